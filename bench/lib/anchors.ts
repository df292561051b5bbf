/**
 * The anchors Tickler's dispatcher is compared with, each in a fresh database of its own on the
 * bench server: graphile-worker 0.17 (run() with a task list, jobs added with add_jobs / run_at)
 * and pg-boss 10 (work() on a queue, jobs added with insert() / startAfter). Only their documented
 * public APIs are used. Each runs under one of the named profiles below, and every table states
 * the profile it used (`describeProfile`).
 *
 * Jobs carry `{ dueAt }` (epoch ms, when they were meant to run), so a handler can measure its
 * lateness the way Tickler's sink does.
 */
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type RunnerOptions } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { spawnFixture, type Fixture } from '../fixtures/protocol.js';
import { withClient } from './database.js';
import { ratioHigherIsBetter, ratioLowerIsBetter } from './stats.js';

export type AnchorSystem = 'graphile-worker' | 'pg-boss';
export const ANCHORS: readonly AnchorSystem[] = ['graphile-worker', 'pg-boss'];

/**
 * - `default`: the library's defaults, nothing set (idle cost; the replacement worker after a crash).
 * - `comparable`: about as much in flight per process as a Tickler dispatcher claims per batch (100),
 *   using each library's documented way to get there; polling intervals stay at their defaults.
 * - `hold200`: defaults, except that one process takes 200 jobs at once (crash scenario).
 */
export type AnchorProfile = 'default' | 'comparable' | 'hold200';

export const GRAPHILE_TASK = 'bench_noop';
export const PG_BOSS_QUEUE = 'bench-noop';

export interface BenchPayload {
  /** When the job was meant to run (epoch ms); absent for jobs that were due when added. */
  dueAt?: number;
}

export interface AnchorJob {
  id: string;
  payload: BenchPayload;
}

/** Called once per job (graphile-worker) or once per fetched batch (pg-boss). */
export type AnchorHandler = (jobs: readonly AnchorJob[]) => Promise<void> | void;

export interface AnchorWorker {
  /** Graceful stop; closes every pool the worker opened. */
  stop(): Promise<void>;
}

export function describeProfile(system: AnchorSystem, profile: AnchorProfile): string {
  if (system === 'graphile-worker') {
    switch (profile) {
      case 'default':
        return 'graphile-worker 0.17.3 defaults (concurrentJobs 1, pollInterval 2000 ms, maxPoolSize 10, LISTEN jobs:insert, no local queue)';
      case 'comparable':
        return (
          'graphile-worker 0.17.3: concurrentJobs 10, maxPoolSize 12 (its docs: concurrency + 2), localQueue.size 100 and ' +
          'completeJobBatchDelay 0 (its documented batching: fetch and lock 100 jobs per query, complete them in batches), ' +
          'pollInterval default 2000 ms, LISTEN jobs:insert'
        );
      case 'hold200':
        return 'graphile-worker 0.17.3 defaults with localQueue.size 200 (one query fetches and locks 200 jobs); lock timeout and reset-locked interval at their defaults';
    }
  }
  switch (profile) {
    case 'default':
      return 'pg-boss 10.4.2 defaults (one work() worker, batchSize 1, pollingIntervalSeconds 2, supervise/schedule on, maintenance every 120 s)';
    case 'comparable':
      return (
        'pg-boss 10.4.2: 10 work() workers (v10 runs batches in parallel by calling work() more than once) with batchSize 100 each, ' +
        'pollingIntervalSeconds default 2 (a worker fetches one batch per interval), other settings default'
      );
    case 'hold200':
      return 'pg-boss 10.4.2 defaults with one work() worker of batchSize 200 (one fetch takes 200 jobs); expireInSeconds default (15 min), maintenance every 120 s';
  }
}

// ---------------------------------------------------------------------------------------------
// graphile-worker
// ---------------------------------------------------------------------------------------------

/** Warnings and errors only, to stderr; the default logger prints a line per job at info level. */
export const quietGraphileLogger = new Logger(() => (level, message) => {
  const name = String(level);
  if (name === 'error' || name === 'warning') process.stderr.write(`[graphile-worker ${name}] ${message}\n`);
});

function graphileOptions(url: string, profile: AnchorProfile): RunnerOptions {
  const base: RunnerOptions = { connectionString: url, logger: quietGraphileLogger, noHandleSignals: true };
  switch (profile) {
    case 'default':
      return base;
    case 'comparable':
      return { ...base, concurrency: 10, maxPoolSize: 12, preset: { worker: { localQueue: { size: 100 }, completeJobBatchDelay: 0 } } };
    case 'hold200':
      return { ...base, preset: { worker: { localQueue: { size: 200 } } } };
  }
}

/** Installs graphile-worker's schema (what run() would do on first start), so seeding can come first. */
export async function prepareGraphileWorker(url: string): Promise<void> {
  await runMigrations({ connectionString: url, logger: quietGraphileLogger });
}

/** Adds jobs with the documented bulk API (`addJobs`, i.e. SQL add_jobs), with `run_at` = dueAt when given. */
export async function addGraphileJobs(url: string, payloads: readonly BenchPayload[], chunkSize = 10_000): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: url, logger: quietGraphileLogger });
  try {
    for (let start = 0; start < payloads.length; start += chunkSize) {
      await utils.addJobs(
        payloads.slice(start, start + chunkSize).map((payload) => ({
          identifier: GRAPHILE_TASK,
          payload,
          ...(payload.dueAt === undefined ? {} : { runAt: new Date(payload.dueAt) }),
        })),
      );
    }
  } finally {
    await utils.release();
  }
}

export async function startGraphileWorker(url: string, profile: AnchorProfile, handler: AnchorHandler): Promise<AnchorWorker> {
  const runner: Runner = await run({
    ...graphileOptions(url, profile),
    taskList: {
      [GRAPHILE_TASK]: async (payload, helpers) => {
        await handler([{ id: helpers.job.id, payload: (payload ?? {}) as BenchPayload }]);
      },
    },
  });
  return { stop: () => runner.stop() };
}

export interface GraphileJobCounts {
  /** Jobs still in the table (graphile-worker deletes a job when it completes). */
  remaining: number;
  locked: number;
}

export async function graphileJobCounts(url: string): Promise<GraphileJobCounts> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ remaining: number; locked: number }>(
      `SELECT count(*)::int AS remaining, count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS locked FROM graphile_worker.jobs`,
    );
    return { remaining: rows[0]?.remaining ?? 0, locked: rows[0]?.locked ?? 0 };
  });
}

// ---------------------------------------------------------------------------------------------
// pg-boss
// ---------------------------------------------------------------------------------------------

function newBoss(url: string, extra: PgBoss.ConstructorOptions = {}): PgBoss {
  const boss = new PgBoss({ connectionString: url, ...extra });
  // An EventEmitter 'error' without a listener would throw; pg-boss reports worker and maintenance errors here.
  boss.on('error', (error) => process.stderr.write(`[pg-boss error] ${error.message}\n`));
  return boss;
}

/** Installs pg-boss's schema and creates the bench queue (v10 needs a queue before send/work). */
export async function preparePgBoss(url: string): Promise<void> {
  // Only for installing and seeding: the instances under test are created by startPgBoss.
  const boss = newBoss(url, { supervise: false, schedule: false, max: 2 });
  await boss.start();
  try {
    await boss.createQueue(PG_BOSS_QUEUE);
  } finally {
    await boss.stop({ graceful: false, close: true, wait: true });
  }
}

/** Adds jobs with the documented bulk API (`insert()`), with `startAfter` = dueAt when given. */
export async function insertPgBossJobs(url: string, payloads: readonly BenchPayload[], chunkSize = 10_000): Promise<void> {
  const boss = newBoss(url, { supervise: false, schedule: false, max: 2 });
  await boss.start();
  try {
    for (let start = 0; start < payloads.length; start += chunkSize) {
      await boss.insert(
        payloads.slice(start, start + chunkSize).map((payload) => ({
          name: PG_BOSS_QUEUE,
          data: payload,
          ...(payload.dueAt === undefined ? {} : { startAfter: new Date(payload.dueAt) }),
        })),
      );
    }
  } finally {
    await boss.stop({ graceful: false, close: true, wait: true });
  }
}

function pgBossWorkers(profile: AnchorProfile): { workers: number; options: PgBoss.WorkOptions } {
  switch (profile) {
    case 'default':
      return { workers: 1, options: {} };
    case 'comparable':
      return { workers: 10, options: { batchSize: 100 } };
    case 'hold200':
      return { workers: 1, options: { batchSize: 200 } };
  }
}

export async function startPgBoss(url: string, profile: AnchorProfile, handler: AnchorHandler): Promise<AnchorWorker> {
  const boss = newBoss(url);
  await boss.start();
  try {
    const { workers, options } = pgBossWorkers(profile);
    for (let index = 0; index < workers; index += 1) {
      await boss.work<BenchPayload>(PG_BOSS_QUEUE, options, async (jobs) => {
        await handler(jobs.map((job) => ({ id: job.id, payload: job.data ?? {} })));
      });
    }
  } catch (error) {
    await boss.stop({ graceful: false, close: true, wait: true });
    throw error;
  }
  return { stop: () => boss.stop({ graceful: true, close: true, wait: true, timeout: 10_000 }) };
}

export interface PgBossJobCounts {
  created: number;
  active: number;
  completed: number;
  other: number;
}

export async function pgBossJobCounts(url: string): Promise<PgBossJobCounts> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ state: string; count: number }>(
      `SELECT state::text, count(*)::int AS count FROM pgboss.job WHERE name = $1 GROUP BY state`,
      [PG_BOSS_QUEUE],
    );
    const counts: PgBossJobCounts = { created: 0, active: 0, completed: 0, other: 0 };
    for (const row of rows) {
      if (row.state === 'created' || row.state === 'active' || row.state === 'completed') counts[row.state] += row.count;
      else counts.other += row.count;
    }
    return counts;
  });
}

// ---------------------------------------------------------------------------------------------
// Either
// ---------------------------------------------------------------------------------------------

export async function prepareAnchor(system: AnchorSystem, url: string): Promise<void> {
  if (system === 'graphile-worker') await prepareGraphileWorker(url);
  else await preparePgBoss(url);
}

export async function addAnchorJobs(system: AnchorSystem, url: string, payloads: readonly BenchPayload[]): Promise<void> {
  if (system === 'graphile-worker') await addGraphileJobs(url, payloads);
  else await insertPgBossJobs(url, payloads);
}

export function startAnchor(system: AnchorSystem, url: string, profile: AnchorProfile, handler: AnchorHandler): Promise<AnchorWorker> {
  return system === 'graphile-worker' ? startGraphileWorker(url, profile, handler) : startPgBoss(url, profile, handler);
}

/** Jobs not yet completed: graphile-worker rows left, pg-boss jobs not in state completed. */
export async function unfinishedJobs(system: AnchorSystem, url: string): Promise<number> {
  if (system === 'graphile-worker') return (await graphileJobCounts(url)).remaining;
  const counts = await pgBossJobCounts(url);
  return counts.created + counts.active + counts.other;
}

/**
 * A worker of `system` in a child process (bench/fixtures/anchor-worker.ts) whose handler counts
 * (`done` lines), or with `block` never returns (crash scenario); `reportIds` lists the ids of the
 * jobs it completed, to find jobs that ran twice.
 */
export function spawnAnchor(
  system: AnchorSystem,
  url: string,
  profile: AnchorProfile,
  options: {
    block?: boolean;
    waitForStart?: boolean;
    reportIds?: boolean;
    /** Before `ready`, work off this database's `count` jobs (JIT warm-up; see backlog.ts). */
    warmUp?: { url: string; count: number };
    name?: string;
  } = {},
): Fixture {
  const args = [`--system=${system}`, `--database-url=${url}`, `--profile=${profile}`];
  if (options.block) args.push('--block');
  if (options.waitForStart) args.push('--wait-for-start');
  if (options.reportIds) args.push('--report-ids');
  if (options.warmUp) args.push(`--warm-up-url=${options.warmUp.url}`, `--warm-up-count=${options.warmUp.count}`);
  return spawnFixture('anchor-worker.ts', args, { name: options.name ?? system });
}

// ---------------------------------------------------------------------------------------------
// Tables: Tickler against each anchor
// ---------------------------------------------------------------------------------------------

export const COMPARISON_COLUMNS = ['', 'Tickler', 'graphile-worker', 'Tickler vs graphile-worker', 'pg-boss', 'Tickler vs pg-boss'];

/**
 * One row of a comparison table: the measure, Tickler's figure, then each anchor's figure and the
 * ratio. NaN (not measured, or nothing came) prints as n/a.
 */
export function comparisonRow(
  label: string,
  tickler: number,
  anchors: Readonly<Record<AnchorSystem, number>>,
  format: (value: number) => string,
  better: 'lower' | 'higher',
): string[] {
  const ratio = (anchor: number) => {
    // A zero on either side has no finite ratio; say which way it goes instead.
    if (better === 'lower' && Number.isFinite(tickler) && Number.isFinite(anchor) && (tickler === 0 || anchor === 0)) {
      if (tickler === anchor) return 'same';
      return tickler === 0 ? 'better (Tickler: none)' : 'worse (anchor: none)';
    }
    return better === 'lower' ? ratioLowerIsBetter(tickler, anchor) : ratioHigherIsBetter(tickler, anchor);
  };
  return [
    label,
    format(tickler),
    format(anchors['graphile-worker']),
    ratio(anchors['graphile-worker']),
    format(anchors['pg-boss']),
    ratio(anchors['pg-boss']),
  ];
}

/** A row of plain figures (counts, yes/no) where a ratio means nothing. */
export function plainRow(label: string, tickler: string, anchors: Readonly<Record<AnchorSystem, string>>): string[] {
  return [label, tickler, anchors['graphile-worker'], '', anchors['pg-boss'], ''];
}
