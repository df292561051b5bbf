/**
 * Burst: N reminders due at the same instant. Measured: time from that instant until the last one
 * reached the sink, and the lateness of each (p50, p99). Tickler's dispatcher against graphile-worker
 * and pg-boss with comparable concurrency, one at a time, each in a fresh database, in this process.
 */
import type { Table } from '../lib/report.js';
import {
  ANCHORS,
  addAnchorJobs,
  comparisonRow,
  COMPARISON_COLUMNS,
  describeProfile,
  plainRow,
  prepareAnchor,
  startAnchor,
  type AnchorSystem,
  type AnchorWorker,
} from '../lib/anchors.js';
import { distribution, ms, num } from '../lib/stats.js';
import { LatenessRecorder, reminderCounts, seedReminders, sleep, startDispatcher, waitUntil, type InProcessDispatcher } from '../lib/tickler.js';
import type { BenchContext, Scenario } from '../lib/context.js';

/** The instant is this far after seeding starts, so every item is stored (and the worker idle) before it. */
const LEAD_MS = 3000;
const PROFILE = 'comparable';

interface BurstResult {
  /** Last sink call minus the instant. */
  drainMs: number;
  p50: number;
  p99: number;
  received: number;
  firedMoreThanOnce?: number;
}

function result(sink: LatenessRecorder, dueAt: number): BurstResult {
  const lateness = distribution(sink.lateness);
  return { drainMs: sink.count > 0 ? sink.lastAt - dueAt : NaN, p50: lateness.p50, p99: lateness.p99, received: sink.count };
}

async function ticklerPass(context: BenchContext, count: number, timeoutMs: number): Promise<BurstResult> {
  const url = await context.server.createTicklerDatabase();
  const sink = new LatenessRecorder();
  let running: InProcessDispatcher | undefined;
  try {
    running = await startDispatcher(url, { onFired: sink.onFired });
    const dueAt = Date.now() + LEAD_MS;
    await seedReminders(url, Array.from({ length: count }, () => dueAt));
    await waitUntil(() => sink.count >= count, dueAt + timeoutMs - Date.now(), 5);
    const counts = await reminderCounts(url);
    return { ...result(sink, dueAt), firedMoreThanOnce: counts.firedMoreThanOnce };
  } finally {
    await running?.stop();
  }
}

async function anchorPass(context: BenchContext, system: AnchorSystem, count: number, timeoutMs: number): Promise<BurstResult> {
  const url = await context.server.createDatabase(system.replace('-', '_'));
  await prepareAnchor(system, url);
  const sink = new LatenessRecorder();
  let worker: AnchorWorker | undefined;
  try {
    worker = await startAnchor(system, url, PROFILE, (jobs) => {
      const now = Date.now();
      for (const job of jobs) if (job.payload.dueAt !== undefined) sink.record(job.payload.dueAt, now);
    });
    const dueAt = Date.now() + LEAD_MS;
    await addAnchorJobs(system, url, Array.from({ length: count }, () => ({ dueAt })));
    await waitUntil(() => sink.count >= count, dueAt + timeoutMs - Date.now(), 5);
    return result(sink, dueAt);
  } finally {
    await worker?.stop();
  }
}

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(1_000, 5_000);
  const timeoutMs = context.size(60_000, 180_000);
  const tickler = await ticklerPass(context, count, timeoutMs);
  const anchors = {} as Record<AnchorSystem, BurstResult>;
  for (const system of ANCHORS) {
    await sleep(1000);
    anchors[system] = await anchorPass(context, system, count, timeoutMs);
  }
  const pick = (key: 'drainMs' | 'p50' | 'p99') => ({ 'graphile-worker': anchors['graphile-worker'][key], 'pg-boss': anchors['pg-boss'][key] });
  const received = (r: BurstResult) => `${num(r.received)} / ${num(count)}`;
  return [
    {
      title: `Burst: ${num(count)} reminders due at the same instant`,
      notes: [
        `${num(count)} reminders/jobs all due at one instant ${LEAD_MS / 1000} s after seeding began (stored in bulk before it, the worker already running and idle). ` +
          '"Until the last fired" = time the sink/handler was called for the last one minus that instant; lateness = each one\'s sink call minus the instant. ' +
          'Each system alone, in its own fresh database on the same server, in the bench process.',
        'Tickler: one dispatcher with default settings (claims and fires a batch of reminders per autocommit statement, one batch after another; webhook notifier as `npm run worker`); sink = `onFired`, called after each batch commits.',
        `graphile-worker: jobs added with add_jobs and run_at; ${describeProfile('graphile-worker', PROFILE)}.`,
        `pg-boss: jobs added with insert() and startAfter; ${describeProfile('pg-boss', PROFILE)}.`,
        'The anchors\' figures include up to one polling interval (2 s) before a worker notices that the instant has passed; a pg-boss worker then fetches one batch of 100 per polling interval, so its drain time grows with N / (10 workers × 100) × 2 s.',
        ...(tickler.firedMoreThanOnce ? [`Tickler: ${tickler.firedMoreThanOnce} reminders fired more than once.`] : []),
        ...whereTicklerLoses(tickler, anchors),
      ],
      columns: COMPARISON_COLUMNS,
      rows: [
        comparisonRow('until the last fired', tickler.drainMs, pick('drainMs'), ms, 'lower'),
        comparisonRow('p50 lateness', tickler.p50, pick('p50'), ms, 'lower'),
        comparisonRow('p99 lateness', tickler.p99, pick('p99'), ms, 'lower'),
        plainRow('fired / expected', received(tickler), { 'graphile-worker': received(anchors['graphile-worker']), 'pg-boss': received(anchors['pg-boss']) }),
      ],
    },
  ];
}

function whereTicklerLoses(tickler: BurstResult, anchors: Record<AnchorSystem, BurstResult>): string[] {
  const slower = ANCHORS.filter((system) => anchors[system].drainMs < tickler.drainMs || anchors[system].p99 < tickler.p99);
  if (slower.length === 0) return [];
  return [
    `Why ${slower.join(' and ')} finish${slower.length === 1 ? 'es' : ''} sooner here: Tickler starts on time (it sleeps until the instant), but then fires batch after batch of 100, ` +
      'each one statement that updates the reminders, appends their events to the log and their delivery rows, joining their tasks; ' +
      'the anchors lose up to one polling interval at the start and then work through cheaper rows (see the throughput table for the per-item cost).',
  ];
}

export const scenario: Scenario = { key: 'burst', title: 'Burst', run };
