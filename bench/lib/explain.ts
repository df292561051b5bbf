/**
 * The plans PostgreSQL actually ran for one process's statements, with their real parameters:
 * auto_explain (EXPLAIN ANALYZE, BUFFERS) loaded for that process's database role only, logging at
 * NOTICE level, so that each plan comes back to the client that ran the statement; the dispatcher
 * fixture passes them on (`--report-notices`). Nothing is copied from the source: whatever the real
 * dispatcher from src/ runs is what gets explained.
 */
import { withClient } from './database.js';

export interface ExplainedStatement {
  /** The statement as sent (parameters as $n), whitespace folded. */
  query: string;
  /** EXPLAIN ANALYZE output (text format), as auto_explain reported it. */
  plan: string;
  /** Times this statement was explained. */
  runs: number;
  /** Tables read with a sequential scan anywhere in the plan. */
  seqScans: string[];
}

/** Loads auto_explain (everything, ANALYZE, BUFFERS, text, at NOTICE level) for every new session of `role`. */
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
      `auto_explain.log_level = 'notice'`,
      `client_min_messages = 'notice'`,
    ]) {
      await client.query(`ALTER ROLE "${role}" SET ${setting}`);
    }
  });
}

/** One plan per distinct statement (the longest plan text of its runs), from auto_explain notices. */
export function parsePlans(notices: readonly string[]): ExplainedStatement[] {
  const byQuery = new Map<string, ExplainedStatement>();
  for (const notice of notices) {
    if (!notice.startsWith('duration:') || !notice.includes('Query Text:')) continue;
    const lines = notice.split('\n').slice(1);
    const queryStart = lines.findIndex((line) => line.startsWith('Query Text:'));
    // The query text runs until the first plan node (with ANALYZE every node line carries its estimates).
    let planStart = queryStart + 1;
    while (planStart < lines.length && !(lines[planStart] ?? '').includes('(cost=')) planStart += 1;
    const query = lines
      .slice(queryStart, planStart)
      .join(' ')
      .replace(/^Query Text:\s*/, '')
      .replace(/\s+/g, ' ')
      // auto_explain adds the bound values; one entry per statement, whatever its parameters.
      .replace(/ Query Parameters: .*$/, '')
      .trim();
    const plan = lines.slice(planStart).join('\n').trimEnd();
    const seqScans = [...new Set([...plan.matchAll(/Seq Scan on (\S+)/g)].map((match) => match[1] as string))];
    const existing = byQuery.get(query);
    if (!existing) {
      byQuery.set(query, { query, plan, runs: 1, seqScans });
      continue;
    }
    existing.runs += 1;
    if (plan.length > existing.plan.length) existing.plan = plan;
    existing.seqScans = [...new Set([...existing.seqScans, ...seqScans])];
  }
  return [...byQuery.values()];
}
