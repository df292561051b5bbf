/**
 * The plans PostgreSQL actually ran for one role's statements, with their real parameters:
 * auto_explain (EXPLAIN ANALYZE, BUFFERS) loaded for that role only, its output read from the
 * embedded server's log. Nothing is copied from the source: whatever the process connected as that
 * role runs (the real dispatcher, from src/) is what gets explained.
 *
 * The embedded server's log reaches this process through src/db/embedded.ts, which hands each chunk
 * of its stderr to `log.debug('embedded postgres', { message })`; while capturing, LOG_LEVEL is
 * raised to debug in this process and those lines are taken off stdout (other debug lines are
 * dropped, everything else is printed as usual). The server prefixes each line with `<bench ROLE>`
 * (log_line_prefix, bench/lib/database.ts), so other sessions' lines are left out.
 */
import { withClient } from './database.js';

export interface ExplainedStatement {
  /** The statement as sent (parameters as $n), whitespace folded. */
  query: string;
  /** EXPLAIN ANALYZE output (text format), as auto_explain logged it. */
  plan: string;
  /** Times this statement was logged. */
  runs: number;
  seqScans: string[];
}

/** Loads auto_explain (log everything, ANALYZE, BUFFERS, text) for every new session of `role`. */
export async function enableAutoExplain(adminUrl: string, role: string): Promise<void> {
  await withClient(adminUrl, async (client) => {
    for (const setting of [
      `session_preload_libraries = 'auto_explain'`,
      'auto_explain.log_min_duration = 0',
      'auto_explain.log_analyze = on',
      'auto_explain.log_buffers = on',
      'auto_explain.log_timing = on',
      `auto_explain.log_format = 'text'`,
      'auto_explain.log_nested_statements = on',
    ]) {
      await client.query(`ALTER ROLE "${role}" SET ${setting}`);
    }
  });
}

/** Runs `work` while collecting the embedded server's log; returns the plans logged for `role`. */
export async function captureExplains(role: string, work: () => Promise<void>): Promise<ExplainedStatement[]> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const previousLevel = process.env.LOG_LEVEL;
  let pending = '';
  const intercept = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    let index: number;
    while ((index = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, index + 1);
      pending = pending.slice(index + 1);
      const entry = parseLogLine(line);
      if (entry?.msg === 'embedded postgres' && typeof entry.message === 'string') chunks.push(entry.message);
      else if (entry?.level !== 'debug') write(line);
    }
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    callback?.();
    return true;
  };
  process.env.LOG_LEVEL = 'debug';
  process.stdout.write = intercept as typeof process.stdout.write;
  try {
    await work();
    // The server writes the last plans a moment after the statements returned.
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    process.stdout.write = write;
    if (previousLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLevel;
    if (pending) write(pending);
  }
  return parsePlans(chunks.join('\n'), role);
}

function parseLogLine(line: string): { msg?: unknown; level?: unknown; message?: unknown } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { msg?: unknown; level?: unknown; message?: unknown };
  } catch {
    return undefined;
  }
}

/** Splits the log into entries (a prefixed line and its tab-indented continuation lines), keeps `role`'s plans. */
export function parsePlans(logText: string, role: string): ExplainedStatement[] {
  const entries: string[] = [];
  for (const line of logText.split('\n')) {
    if (line.startsWith('<bench ')) entries.push(line);
    else if (entries.length > 0 && (line.startsWith('\t') || line.startsWith(' '))) entries[entries.length - 1] += `\n${line}`;
  }
  const byQuery = new Map<string, ExplainedStatement>();
  for (const entry of entries) {
    if (!entry.startsWith(`<bench ${role}> LOG:  duration:`) || !entry.includes('Query Text:')) continue;
    const lines = entry.split('\n').slice(1).map((line) => line.replace(/^\t/, ''));
    const queryStart = lines.findIndex((line) => line.startsWith('Query Text:'));
    // The query text runs until the first plan node (with ANALYZE every node line carries its estimates).
    let planStart = queryStart + 1;
    while (planStart < lines.length && !(lines[planStart] ?? '').includes('(cost=')) planStart += 1;
    const query = lines
      .slice(queryStart, planStart)
      .join(' ')
      .replace(/^Query Text:\s*/, '')
      .replace(/\s+/g, ' ')
      // auto_explain appends the bound values; one entry per statement, whatever its parameters.
      .replace(/ Query Parameters: .*$/, '')
      .trim();
    const plan = lines.slice(planStart).join('\n').trimEnd();
    const seqScans = [...plan.matchAll(/Seq Scan on (\S+)/g)].map((match) => match[1] as string);
    const existing = byQuery.get(query);
    if (existing) existing.runs += 1;
    byQuery.set(query, { query, plan: existing && existing.plan.length > plan.length ? existing.plan : plan, runs: (existing?.runs ?? 0) + 1, seqScans: existing && existing.seqScans.length > seqScans.length ? existing.seqScans : seqScans });
  }
  return [...byQuery.values()];
}
