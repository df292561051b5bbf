/**
 * Backlog throughput: N reminders already due, worked off by Tickler with 1 and with 2 dispatcher
 * processes and by graphile-worker with 1 process (its documented batching on); fired per second,
 * and per item the commits (pg_stat_database.xact_commit) and WAL bytes it cost. Repeated in rounds
 * (the machine's noise drifts over minutes) with Tickler's one process in the middle of each, each
 * ratio taken within a round and the median reported. Workers run as child processes (bench/fixtures/dispatcher.ts,
 * anchor-worker.ts), each run alone in a fresh database, each process warmed up first (backlog.ts).
 * One round before the counted ones is not reported: the server's own warm-up (a server just
 * started gave the lowest 2-vs-1 ratio in 4 of 5 trial series on 2026-11-30).
 */
import { describeProfile, type AnchorSystem } from '../lib/anchors.js';
import { BACKLOG_ANCHOR_PROFILE as PROFILE, runBacklog as runOnce, type BacklogRun as RunResult } from '../lib/backlog.js';
import type { Table } from '../lib/report.js';
import { median, ms, num } from '../lib/stats.js';
import { ensureStatementStats, sleep } from '../lib/tickler.js';
import type { BenchContext, Scenario } from '../lib/context.js';

type System = 'tickler' | AnchorSystem;

/** One measured configuration: a system with a number of processes. */
interface Config {
  key: 'tickler1' | 'tickler2' | 'graphile1';
  system: System;
  processes: number;
  label: string;
}

const TICKLER_1: Config = { key: 'tickler1', system: 'tickler', processes: 1, label: 'Tickler, 1 process' };
const GRAPHILE_1: Config = { key: 'graphile1', system: 'graphile-worker', processes: 1, label: 'graphile-worker, 1 process' };
const TICKLER_2: Config = { key: 'tickler2', system: 'tickler', processes: 2, label: 'Tickler, 2 processes' };
const CONFIGS: readonly Config[] = [TICKLER_1, GRAPHILE_1, TICKLER_2];

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(5_000, 50_000);
  const rounds = context.size(1, 7);
  await ensureStatementStats(context.server.adminUrl);
  const results: Array<Record<Config['key'], RunResult>> = [];
  const orders: string[] = [];
  if (context.mode === 'full') {
    for (const config of CONFIGS) await runOnce(context, config.system, config.processes, count);
  }
  for (let round = 0; round < rounds; round += 1) {
    // Tickler's one process runs in the middle, next to both runs it is compared with (the machine's
    // speed drifts over minutes); the other two swap places every round, so neither is always first.
    const order = round % 2 === 0 ? [GRAPHILE_1, TICKLER_1, TICKLER_2] : [TICKLER_2, TICKLER_1, GRAPHILE_1];
    orders.push(order.map((config) => config.label).join(' → '));
    const result = {} as Record<Config['key'], RunResult>;
    for (const config of order) {
      await sleep(1000);
      result[config.key] = await runOnce(context, config.system, config.processes, count);
    }
    results.push(result);
  }
  const perRound = (pick: (result: Record<Config['key'], RunResult>) => number) => results.map(pick);
  const ratioVsGraphile = perRound((r) => r.tickler1.perSecond / r.graphile1.perSecond);
  const ratioTwoVsOne = perRound((r) => r.tickler2.perSecond / r.tickler1.perSecond);
  const list = (values: readonly number[], format: (value: number) => string) => values.map(format).join(', ');
  const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');
  const yes = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const rows: string[][] = [];
  for (const config of CONFIGS) {
    const runs = results.map((result) => result[config.key]);
    rows.push([
      `fired per second, ${config.label}`,
      num(median(runs.map((r) => r.perSecond))),
      list(runs.map((r) => r.perSecond), (v) => num(v)),
      '',
    ]);
  }
  rows.push(
    ['Tickler 1 process / graphile-worker 1 process', x(median(ratioVsGraphile)), list(ratioVsGraphile, x), `≥ 1.00×: ${yes(median(ratioVsGraphile) >= 1)}`],
    ['Tickler 2 processes / Tickler 1 process', x(median(ratioTwoVsOne)), list(ratioTwoVsOne, x), `≥ 1.60×: ${yes(median(ratioTwoVsOne) >= 1.6)}`],
  );
  for (const config of CONFIGS) {
    const runs = results.map((result) => result[config.key]);
    rows.push(
      [`commits per item, ${config.label}`, num(median(runs.map((r) => r.cost.commits / count)), 4), list(runs.map((r) => r.cost.commits / count), (v) => num(v, 4)), ''],
      [`WAL bytes per item (server), ${config.label}`, num(median(runs.map((r) => r.cost.walBytes / count))), list(runs.map((r) => r.cost.walBytes / count), (v) => num(v)), ''],
      [`WAL bytes per item (its statements), ${config.label}`, num(median(runs.map((r) => r.statementWalBytes / count))), list(runs.map((r) => r.statementWalBytes / count), (v) => num(v)), ''],
    );
  }
  for (const config of CONFIGS) {
    const runs = results.map((result) => result[config.key]);
    const done = runs.map((r) => `${num(r.completed)} / ${num(count)} in ${ms(r.elapsedMs)}${r.timedOut ? ' (timed out)' : ''}`);
    rows.push([`done / expected, ${config.label}`, '', done.join(', '), '']);
  }
  return [
    {
      title: `Backlog throughput: ${num(count)} items already due, ${rounds} round${rounds === 1 ? '' : 's'}`,
      notes: [
        `${num(count)} reminders/jobs, all already due, stored before the workers start. Each worker is a child process that connects and waits; the clock starts when the first ` +
          'reported it had started (connected, registered, listening) and stops when the last item reached a sink/handler. Each run alone, in its own fresh database on the same server.',
        'Warm processes, clean server: before it says it is ready, every worker process (Tickler and graphile-worker alike) works off a backlog of the same size in a scratch database of its own and stops that worker, ' +
          'so the clock measures JIT-compiled code as in a worker that has been up for a while; then the scratch databases are dropped and a CHECKPOINT runs. ' +
          'Earlier runs\' databases are dropped too. (A cold Tickler process spent 10-14 µs of CPU per reminder in Node, mostly V8 compiling on background threads, a warm one 3-4 µs: with two processes on two cores that CPU is taken from the database.)',
        `Rounds: ${rounds}${context.mode === 'full' ? ', after one unreported round (the freshly started server warms up)' : ''}; in each, the three configurations ran one after another, in an order that keeps Tickler's one process in the middle, next to both runs it is compared with, and swaps the other two every round (${orders.map((order, index) => `round ${index + 1}: ${order}`).join('; ')}). ` +
          "Ratios are taken within a round (same minutes, same machine state); the table gives the median and every round's value.",
        'Commits = pg_stat_database.xact_commit delta of that database; WAL (server) = pg_current_wal_lsn delta of the whole server (includes autovacuum and checkpoints meanwhile); ' +
          'WAL (its statements) = pg_stat_statements wal_bytes delta of that database. Both from just before the start to after the workers stopped gracefully (start-up after `ready` and stopping included), divided by N. ' +
          'Read-only transactions (polls, claims that found nothing) count as commits too.',
        'Tickler: `npm run worker` defaults (batch size, pool, webhook notifier as it runs them); sink = `onBatch` (counts only, as in production the fire statement returns one small row), called once the batch is committed.',
        `graphile-worker: ${describeProfile('graphile-worker', PROFILE)}; handler = no-op task; jobs added with add_jobs. Its "fired" is its handler being called (completion is written afterwards).`,
        'pg-boss is left out of this table: at its documented settings it works 50,000 jobs in about 100 s (10 × 100 jobs per 2 s polling interval), which seven rounds cannot afford; see the lateness and burst tables for it.',
        "Targets (issue 7): Tickler with one process at least graphile-worker's figure; two processes at least 1.6× one. On this machine (2 cores shared by PostgreSQL, the workers and the bench) a second process mostly competes for the same two cores.",
      ],
      columns: ['', 'median', 'each round', 'target'],
      rows,
    },
  ];
}

export const scenario: Scenario = { key: 'throughput', title: 'Backlog throughput', run };
