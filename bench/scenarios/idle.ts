/**
 * Idle cost: what a worker with nothing to do sends to PostgreSQL. Statements per second from
 * pg_stat_statements (calls of the worker's own database, snapshot before and after a window), and
 * WAL written meanwhile. Tickler's dispatcher against an idle graphile-worker runner and an idle
 * pg-boss instance with one worker, all with their default polling settings, one at a time, each in
 * a fresh database, in this process.
 */
import { ANCHORS, comparisonRow, COMPARISON_COLUMNS, describeProfile, prepareAnchor, startAnchor, type AnchorSystem, type AnchorWorker } from '../lib/anchors.js';
import type { Table } from '../lib/report.js';
import { num } from '../lib/stats.js';
import { ensureStatementStats, sleep, startDispatcher, statementTotals, topStatements, type InProcessDispatcher } from '../lib/tickler.js';
import type { BenchContext, Scenario } from '../lib/context.js';

/** Let start-up (migrations check, first pass, first heartbeat) finish before the window opens. */
const SETTLE_MS = 5000;

interface IdleResult {
  perSecond: number;
  walPerMinute: number;
  top: Array<{ calls: number; query: string }>;
}

async function measure(context: BenchContext, url: string, windowMs: number): Promise<IdleResult> {
  const admin = context.server.adminUrl;
  await sleep(SETTLE_MS);
  const before = await statementTotals(admin, url);
  await sleep(windowMs);
  const after = await statementTotals(admin, url);
  return {
    perSecond: ((after.calls - before.calls) / windowMs) * 1000,
    walPerMinute: ((after.walBytes - before.walBytes) / windowMs) * 60_000,
    top: await topStatements(admin, url, 4),
  };
}

async function ticklerIdle(context: BenchContext, windowMs: number): Promise<IdleResult> {
  const url = await context.server.createTicklerDatabase();
  let running: InProcessDispatcher | undefined;
  try {
    running = await startDispatcher(url);
    return await measure(context, url, windowMs);
  } finally {
    await running?.stop();
  }
}

async function anchorIdle(context: BenchContext, system: AnchorSystem, windowMs: number): Promise<IdleResult> {
  const url = await context.server.createDatabase(system.replace('-', '_'));
  await prepareAnchor(system, url);
  let worker: AnchorWorker | undefined;
  try {
    worker = await startAnchor(system, url, 'default', () => undefined);
    return await measure(context, url, windowMs);
  } finally {
    await worker?.stop();
  }
}

async function run(context: BenchContext): Promise<Table[]> {
  const windowMs = context.size(10_000, 30_000);
  await ensureStatementStats(context.server.adminUrl);
  const tickler = await ticklerIdle(context, windowMs);
  const anchors = {} as Record<AnchorSystem, IdleResult>;
  for (const system of ANCHORS) anchors[system] = await anchorIdle(context, system, windowMs);
  const pick = (key: 'perSecond' | 'walPerMinute') => ({ 'graphile-worker': anchors['graphile-worker'][key], 'pg-boss': anchors['pg-boss'][key] });
  const describeTop = (result: IdleResult) =>
    result.top.map((entry) => `${num(entry.calls)}× \`${entry.query.replace(/`/g, "'").slice(0, 70)}\``).join('; ');
  return [
    {
      title: 'Idle cost: statements per second with nothing to do',
      notes: [
        `Each worker started on an empty database and left alone for ${SETTLE_MS / 1000} s, then measured over ${windowMs / 1000} s: statements = pg_stat_statements calls delta ` +
          'for its database (matched by dbid, read from the postgres database so reading does not count), WAL = pg_stat_statements wal_bytes delta of its database (what its own statements wrote; autovacuum and other databases excluded). ' +
          'Each system alone, in its own fresh database on the same server, in the bench process. Windows are short against some periods (maintenance every 120 s, idle poll 10 s), so expect some jitter.',
        'Tickler: one dispatcher with default settings as `npm run worker` runs it (heartbeat every 3 s, fallback poll every 10 s: one statement reading the next due times, and the full pass of fire, claim deliveries and next due only when that finds something due; woken by LISTEN/NOTIFY otherwise). ' +
          'Its LISTEN connection is also pinged every 2 s with an empty query, a round trip that executes no statement and so is not counted by pg_stat_statements.',
        `graphile-worker: ${describeProfile('graphile-worker', 'default')}, one task.`,
        `pg-boss: ${describeProfile('pg-boss', 'default')}, one queue.`,
        `Most frequent statements since start. Tickler: ${describeTop(tickler)}. graphile-worker: ${describeTop(anchors['graphile-worker'])}. pg-boss: ${describeTop(anchors['pg-boss'])}.`,
        ...whereTicklerLoses(tickler, anchors),
        `Target (issue 7): idle statements per second no worse than before dispatcher v2 (0.63): ${tickler.perSecond <= 0.63 ? 'met' : 'MISSED'} (${num(tickler.perSecond, 2)}). WAL per idle minute is reported, without a target.`,
      ],
      columns: COMPARISON_COLUMNS,
      rows: [
        comparisonRow('statements per second', tickler.perSecond, pick('perSecond'), (value) => num(value, 2), 'lower'),
        comparisonRow('WAL bytes per minute', tickler.walPerMinute, pick('walPerMinute'), (value) => num(value), 'lower'),
      ],
    },
  ];
}

function whereTicklerLoses(tickler: IdleResult, anchors: Record<AnchorSystem, IdleResult>): string[] {
  const notes: string[] = [];
  const fewerStatements = ANCHORS.filter((system) => anchors[system].perSecond < tickler.perSecond);
  if (fewerStatements.length > 0) {
    notes.push(
      `Why ${fewerStatements.join(' and ')} send${fewerStatements.length === 1 ? 's' : ''} fewer statements: Tickler's idle dispatcher runs a heartbeat every 3 s plus a fallback poll every 10 s ` +
        'of one statement (the next due times), where graphile-worker sends one get_jobs every 2 s. ' +
        'The heartbeat is what lets another dispatcher hand a crashed one\'s claims on within ~10 s (see the crash table); the fallback poll covers lost notifications.',
    );
  }
  const lessWal = ANCHORS.filter((system) => anchors[system].walPerMinute < tickler.walPerMinute);
  if (lessWal.length > 0) {
    notes.push(
      `Why Tickler writes more WAL than ${lessWal.join(' and ')} while idle: its heartbeat is an UPDATE of its row in \`dispatchers\` every 3 s (a write, so WAL), ` +
        'where the anchors\' idle polls are reads; pg-boss\'s maintenance (every 120 s) and cron bookkeeping do write, but rarely fall in a short window.',
    );
  }
  return notes;
}

export const scenario: Scenario = { key: 'idle', title: 'Idle cost', run };
