/**
 * Scheduled lateness: N reminders with trigger times spread at random (to the millisecond) over a
 * window; lateness is the time the sink is called minus the trigger time.
 *
 * One system at a time, each in a fresh database on the bench server, each in this process:
 * 1. Tickler: a dispatcher (as `npm run worker` runs it) whose onFired is the no-op sink.
 * 2. Tickler as `npm start` runs it (API + EventHub + dispatcher in one process) with a graphql-ws
 *    client subscribed to `reminderFired` as the reminders' owner: lateness to the subscriber.
 * 3. graphile-worker: jobs added with add_jobs and run_at, a no-op task.
 * 4. pg-boss: jobs added with insert() and startAfter, a no-op handler.
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
import { distribution, ms, num, type Distribution } from '../lib/stats.js';
import {
  LatenessRecorder,
  reminderCounts,
  seedReminders,
  sleep,
  startDispatcher,
  startTicklerServer,
  subscribeReminderFired,
  waitUntil,
  type InProcessDispatcher,
  type RunningTickler,
  type Subscriber,
} from '../lib/tickler.js';
import type { BenchContext, Scenario } from '../lib/context.js';

/** Seeding starts this long before the first possible trigger time, so no reminder is due before it is stored. */
const LEAD_MS = 2000;
const PROFILE = 'comparable';

interface Plan {
  count: number;
  windowMs: number;
  /** How long to wait for stragglers after the window closed. */
  graceMs: number;
}

/** Trigger times (epoch ms) spread uniformly over [now + LEAD, now + LEAD + window). */
function triggerTimes(plan: Plan): number[] {
  const base = Date.now() + LEAD_MS;
  return Array.from({ length: plan.count }, () => base + Math.floor(Math.random() * plan.windowMs));
}

function deadlineOf(times: readonly number[], plan: Plan): number {
  return Math.max(...times) + plan.graceMs;
}

interface PassResult {
  lateness: Distribution;
  received: number;
  note?: string;
}

async function ticklerSinkPass(context: BenchContext, plan: Plan): Promise<PassResult> {
  const url = await context.server.createTicklerDatabase();
  const sink = new LatenessRecorder();
  let running: InProcessDispatcher | undefined;
  try {
    running = await startDispatcher(url, { onFired: sink.onFired });
    const times = triggerTimes(plan);
    await seedReminders(url, times);
    await waitUntil(() => sink.count >= plan.count, deadlineOf(times, plan) - Date.now(), 20);
    const counts = await reminderCounts(url);
    return {
      lateness: distribution(sink.lateness),
      received: sink.count,
      note: counts.firedMoreThanOnce > 0 ? `${counts.firedMoreThanOnce} fired more than once` : undefined,
    };
  } finally {
    await running?.stop();
  }
}

interface SubscriberPassResult {
  sink: PassResult;
  subscriber: PassResult;
  errors: string[];
}

async function ticklerSubscriberPass(context: BenchContext, plan: Plan): Promise<SubscriberPassResult> {
  const url = await context.server.createTicklerDatabase();
  const sink = new LatenessRecorder();
  let tickler: RunningTickler | undefined;
  let subscriber: Subscriber | undefined;
  try {
    tickler = await startTicklerServer(url, { onFired: sink.onFired });
    const times = triggerTimes(plan);
    // The owner exists before the subscriber connects (the API would create it on first sight otherwise).
    const seeded = await seedReminders(url, times);
    subscriber = await subscribeReminderFired(tickler.wsUrl, seeded.subject);
    const feed = subscriber;
    await waitUntil(() => feed.recorder.count >= plan.count || feed.errors.length > 0, deadlineOf(times, plan) - Date.now(), 20);
    return {
      sink: { lateness: distribution(sink.lateness), received: sink.count },
      subscriber: { lateness: distribution(feed.recorder.lateness), received: feed.recorder.count },
      errors: [...feed.errors],
    };
  } finally {
    await subscriber?.dispose().catch(() => undefined);
    await tickler?.stop();
  }
}

async function anchorPass(context: BenchContext, system: AnchorSystem, plan: Plan): Promise<PassResult> {
  const url = await context.server.createDatabase(system.replace('-', '_'));
  await prepareAnchor(system, url);
  const sink = new LatenessRecorder();
  let worker: AnchorWorker | undefined;
  try {
    worker = await startAnchor(system, url, PROFILE, (jobs) => {
      const now = Date.now();
      for (const job of jobs) if (job.payload.dueAt !== undefined) sink.record(job.payload.dueAt, now);
    });
    const times = triggerTimes(plan);
    await addAnchorJobs(system, url, times.map((dueAt) => ({ dueAt })));
    await waitUntil(() => sink.count >= plan.count, deadlineOf(times, plan) - Date.now(), 20);
    return { lateness: distribution(sink.lateness), received: sink.count };
  } finally {
    await worker?.stop();
  }
}

async function run(context: BenchContext): Promise<Table[]> {
  const plan: Plan = {
    count: context.size(1_000, 10_000),
    windowMs: context.size(15_000, 60_000),
    graceMs: context.size(30_000, 60_000),
  };

  const tickler = await ticklerSinkPass(context, plan);
  await sleep(1000);
  const served = await ticklerSubscriberPass(context, plan);
  const anchors = {} as Record<AnchorSystem, PassResult>;
  for (const system of ANCHORS) {
    await sleep(1000);
    anchors[system] = await anchorPass(context, system, plan);
  }

  const pick = (key: 'p50' | 'p99' | 'max') => ({
    'graphile-worker': anchors['graphile-worker'].lateness[key],
    'pg-boss': anchors['pg-boss'].lateness[key],
  });
  const received = (result: PassResult) => `${num(result.received)} / ${num(plan.count)}`;
  const seconds = plan.windowMs / 1000;

  const sinkTable: Table = {
    title: `Scheduled lateness: ${num(plan.count)} reminders spread over ${seconds} s`,
    notes: [
      `${num(plan.count)} reminders/jobs with trigger times drawn uniformly at random (ms precision) from a ${seconds} s window starting ${LEAD_MS / 1000} s after seeding began; ` +
        'all stored in bulk before the first was due, with the worker already running. Lateness = time the no-op sink/handler was called minus the trigger time. ' +
        'Each system alone, in its own fresh database on the same server, in the bench process.',
      'Tickler: one dispatcher with default settings (its own pool, LISTEN/NOTIFY wake-ups, 10 s fallback poll, webhook notifier as `npm run worker`); sink = `onFired`.',
      `graphile-worker: jobs added with add_jobs (addJobs) and run_at; ${describeProfile('graphile-worker', PROFILE)}.`,
      `pg-boss: jobs added with insert() and startAfter; ${describeProfile('pg-boss', PROFILE)}.`,
      'Both anchors find jobs whose run_at/startAfter has passed only by polling (graphile-worker: every 2 s when idle; pg-boss: every 2 s per worker), so their lateness is bounded by the polling interval; Tickler sleeps until the earliest due time its database reports.',
      ...(tickler.note ? [`Tickler: ${tickler.note}.`] : []),
      `Target (issue 7): Tickler's p99 lateness at rest under 50 ms: ${tickler.lateness.p99 < 50 ? 'met' : 'MISSED'} (${ms(tickler.lateness.p99)}).`,
      ...whereTicklerLoses(tickler, anchors),
    ],
    columns: COMPARISON_COLUMNS,
    rows: [
      comparisonRow('p50 lateness', tickler.lateness.p50, pick('p50'), ms, 'lower'),
      comparisonRow('p99 lateness', tickler.lateness.p99, pick('p99'), ms, 'lower'),
      comparisonRow('max lateness', tickler.lateness.max, pick('max'), ms, 'lower'),
      plainRow('fired / expected', received(tickler), { 'graphile-worker': received(anchors['graphile-worker']), 'pg-boss': received(anchors['pg-boss']) }),
    ],
  };

  const sub = served.subscriber;
  const subscriberTable: Table = {
    title: `Scheduled lateness to a graphql-ws subscriber: ${num(plan.count)} reminders over ${seconds} s`,
    notes: [
      'A second Tickler pass, on a fresh database: Tickler as `npm start` runs it (GraphQL API over HTTP and graphql-ws, EventHub, and a dispatcher with default settings, ' +
        'all in one process), and one graphql-ws client, in the same process, subscribed to `reminderFired` as the owner of all the reminders. ' +
        'Lateness = time the client received the event minus the trigger time; the path is fire (commit) → pg_notify → EventHub reads the log → graphql-ws → client.',
      'The anchors have no subscription API; their columns repeat their no-op handler figures from the table above, so the ratio charges Tickler for the extra hop.',
      `In-process sink in this same pass: p50 ${ms(served.sink.lateness.p50)}, p99 ${ms(served.sink.lateness.p99)}, max ${ms(served.sink.lateness.max)} (${received(served.sink)}).`,
      ...(served.errors.length > 0 ? [`Subscriber errors: ${served.errors.slice(0, 3).join('; ')}.`] : []),
    ],
    columns: ['', 'Tickler (subscriber)', 'graphile-worker', 'Tickler vs graphile-worker', 'pg-boss', 'Tickler vs pg-boss'],
    rows: [
      comparisonRow('p50 lateness', sub.lateness.p50, pick('p50'), ms, 'lower'),
      comparisonRow('p99 lateness', sub.lateness.p99, pick('p99'), ms, 'lower'),
      comparisonRow('max lateness', sub.lateness.max, pick('max'), ms, 'lower'),
      plainRow('received / expected', received(sub), { 'graphile-worker': received(anchors['graphile-worker']), 'pg-boss': received(anchors['pg-boss']) }),
    ],
  };
  return [sinkTable, subscriberTable];
}

function whereTicklerLoses(tickler: PassResult, anchors: Record<AnchorSystem, PassResult>): string[] {
  const keys = ['p50', 'p99', 'max'] as const;
  const notes: string[] = [];
  for (const system of ANCHORS) {
    const lost = keys.filter((key) => anchors[system].lateness[key] < tickler.lateness[key]);
    if (lost.length === 0) continue;
    notes.push(
      `Tickler is later than ${system} at ${lost.join(', ')}: a pass claims, fires (one transaction with the event-log append) and reads the next due time, one after another, ` +
        'so reminders falling due while a pass runs wait for it; under CPU contention (2 cores shared with PostgreSQL) a pass takes longer.',
    );
  }
  return notes;
}

export const scenario: Scenario = { key: 'lateness', title: 'Scheduled lateness', run };
