/**
 * Backlog throughput: N reminders already due, worked off by 1 and by 2 worker processes; fired per
 * second, and per item the commits (pg_stat_database.xact_commit) and WAL bytes (pg_current_wal_lsn)
 * it cost. Tickler dispatchers run as child processes (bench/fixtures/dispatcher.ts), and so do the
 * anchors (bench/fixtures/anchor-worker.ts), each system alone in a fresh database.
 */
import { ANCHORS, addAnchorJobs, comparisonRow, COMPARISON_COLUMNS, describeProfile, plainRow, prepareAnchor, spawnAnchor, unfinishedJobs, type AnchorSystem } from '../lib/anchors.js';
import type { Table } from '../lib/report.js';
import { ms, num } from '../lib/stats.js';
import { costSince, readCounters, reminderCounts, seedReminders, sleep, spawnDispatcher, type WorkCost } from '../lib/tickler.js';
import { stopAll, waitForDone, type Fixture } from '../fixtures/protocol.js';
import type { BenchContext, Scenario } from '../lib/context.js';

type System = 'tickler' | AnchorSystem;
const PROFILE = 'comparable';
const PROCESS_COUNTS = [1, 2] as const;

interface RunResult {
  perSecond: number;
  elapsedMs: number;
  cost: WorkCost;
  /** Items the database shows as done afterwards (reminders SENT / jobs completed). */
  completed: number;
  timedOut: boolean;
}

async function seed(context: BenchContext, system: System, count: number): Promise<string> {
  if (system === 'tickler') {
    const url = await context.server.createTicklerDatabase();
    // Due over the last minute, in trigger order as a real backlog would be.
    const base = Date.now() - 60_000;
    await seedReminders(url, Array.from({ length: count }, (_, index) => base + Math.floor((index * 60_000) / count)));
    return url;
  }
  const url = await context.server.createDatabase(system.replace('-', '_'));
  await prepareAnchor(system, url);
  await addAnchorJobs(system, url, Array.from({ length: count }, () => ({})));
  return url;
}

async function completedItems(system: System, url: string, count: number): Promise<number> {
  if (system === 'tickler') return (await reminderCounts(url)).sent;
  return count - (await unfinishedJobs(system, url));
}

async function runOnce(context: BenchContext, system: System, processes: number, count: number): Promise<RunResult> {
  const url = await seed(context, system, count);
  const fixtures: Fixture[] = [];
  try {
    for (let index = 0; index < processes; index += 1) {
      const name = `${system} worker ${index + 1}/${processes}`;
      fixtures.push(
        system === 'tickler'
          ? spawnDispatcher(url, { waitForStart: true, name })
          : spawnAnchor(system, url, PROFILE, { waitForStart: true, name }),
      );
    }
    await Promise.all(fixtures.map((fixture) => fixture.waitFor((message) => message.kind === 'ready', 'ready')));
    const before = await readCounters(url);
    for (const fixture of fixtures) fixture.send('start');
    const started = await Promise.all(fixtures.map((fixture) => fixture.waitFor((message) => message.kind === 'started', 'started')));
    const startedAt = Math.min(...started.map((message) => message.at));
    const timeoutMs = Math.max(60_000, count * 10);
    const done = await waitForDone(fixtures, count, timeoutMs);
    // Graceful stops, so every worker hands back what it holds and its backends report their stats.
    await stopAll(fixtures);
    const cost = await costSince(url, before);
    const elapsedMs = done.lastAt - startedAt;
    return {
      perSecond: done.timedOut ? NaN : (count / elapsedMs) * 1000,
      elapsedMs,
      cost,
      completed: await completedItems(system, url, count),
      timedOut: done.timedOut,
    };
  } finally {
    await stopAll(fixtures, 2000);
  }
}

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(5_000, 50_000);
  const results = {} as Record<System, Record<number, RunResult>>;
  for (const system of ['tickler', ...ANCHORS] as const) {
    results[system] = {};
    for (const processes of PROCESS_COUNTS) {
      await sleep(1000);
      results[system][processes] = await runOnce(context, system, processes, count);
    }
  }
  const anchorsOf = (processes: number, pick: (result: RunResult) => number) => ({
    'graphile-worker': pick(results['graphile-worker'][processes] as RunResult),
    'pg-boss': pick(results['pg-boss'][processes] as RunResult),
  });
  const ticklerOf = (processes: number) => results.tickler[processes] as RunResult;
  const perItem = (value: number) => value / count;
  const rows: string[][] = [];
  for (const processes of PROCESS_COUNTS) {
    const label = processes === 1 ? '1 process' : `${processes} processes`;
    rows.push(comparisonRow(`fired per second, ${label}`, ticklerOf(processes).perSecond, anchorsOf(processes, (r) => r.perSecond), (v) => num(v), 'higher'));
  }
  for (const processes of PROCESS_COUNTS) {
    const label = processes === 1 ? '1 process' : `${processes} processes`;
    rows.push(
      comparisonRow(`commits per item, ${label}`, perItem(ticklerOf(processes).cost.commits), anchorsOf(processes, (r) => perItem(r.cost.commits)), (v) => num(v, 3), 'lower'),
      comparisonRow(`WAL bytes per item, ${label}`, perItem(ticklerOf(processes).cost.walBytes), anchorsOf(processes, (r) => perItem(r.cost.walBytes)), (v) => num(v), 'lower'),
    );
  }
  for (const processes of PROCESS_COUNTS) {
    const describe = (r: RunResult) => `${num(r.completed)} / ${num(count)} in ${ms(r.elapsedMs)}${r.timedOut ? ' (timed out)' : ''}`;
    rows.push(
      plainRow(`done / expected, ${processes === 1 ? '1 process' : `${processes} processes`}`, describe(ticklerOf(processes)), {
        'graphile-worker': describe(results['graphile-worker'][processes] as RunResult),
        'pg-boss': describe(results['pg-boss'][processes] as RunResult),
      }),
    );
  }
  return [
    {
      title: `Backlog throughput: ${num(count)} items already due`,
      notes: [
        `${num(count)} reminders/jobs, all already due, stored before the workers start. Each worker is a child process that connects and waits; the clock starts when the first ` +
          'reported it had started (connected, registered, listening) and stops when the last item reached a sink/handler. Each system alone, in its own fresh database on the same server.',
        'Commits = pg_stat_database.xact_commit delta of that database, WAL = pg_current_wal_lsn delta of the server, both from just before the start to after the workers stopped ' +
          'gracefully (so they include start-up after `ready`, and stopping); divided by N. Read-only transactions (polls, claims that found nothing) count as commits too.',
        'Tickler: `npm run worker` defaults (batch 100: one claim statement and one fire transaction per 100 reminders, pool 10, webhook notifier); sink = `onFired`, called after each batch commits. ' +
          'Every fire transaction also takes the event-log advisory lock (event ids commit in order), so two dispatchers fire one after the other.',
        `graphile-worker (each process): ${describeProfile('graphile-worker', PROFILE)}; handler = no-op task; jobs added with add_jobs.`,
        `pg-boss (each process): ${describeProfile('pg-boss', PROFILE)}; handler = no-op; jobs added with insert(). ` +
          'A pg-boss worker waits out its polling interval after every batch, full or not, so its ceiling here is 10 × 100 jobs per 2 s per process; its handler-to-completion happens just after the handler returns.',
        'The anchors\' "fired" is their handler being called (their completion is written afterwards); Tickler\'s sink is only called once the batch is committed.',
        ...whereTicklerLoses(results, count),
      ],
      columns: COMPARISON_COLUMNS,
      rows,
    },
  ];
}

function whereTicklerLoses(results: Record<System, Record<number, RunResult>>, count: number): string[] {
  const notes: string[] = [];
  const of = (system: System, processes: number) => results[system][processes] as RunResult;
  const faster = ANCHORS.filter((system) => PROCESS_COUNTS.some((processes) => of(system, processes).perSecond > of('tickler', processes).perSecond));
  if (faster.length > 0) {
    notes.push(
      `Why ${faster.join(' and ')} fire${faster.length === 1 ? 's' : ''} faster here: per reminder Tickler updates the reminder twice (claim: PENDING → PROCESSING with its claimer and attempt; ` +
        'fire: → SENT, fenced on that claim), both non-HOT updates since status is in the partial indexes\' predicates, and appends an event (JSONB payload) to the log ' +
        'that subscribers replay from, joining the task for it; graphile-worker locks a job and deletes it, pg-boss updates its state twice. The durable, ordered event log and the fencing are what ' +
        'give exactly-once firing across crashes and gap-free subscription replay; a no-op job queue has neither to write.',
    );
  }
  if (of('tickler', 2).perSecond < of('tickler', 1).perSecond) {
    notes.push(
      'Why 2 Tickler processes are not faster than 1: every fire transaction takes one advisory lock so that event ids commit in order (what makes "replay after id N" gap-free), ' +
        'so fires from two dispatchers queue behind each other; on this 2-core machine the second process also competes with PostgreSQL for CPU.',
    );
  }
  const moreWal = ANCHORS.filter((system) => PROCESS_COUNTS.some((processes) => of(system, processes).cost.walBytes < of('tickler', processes).cost.walBytes));
  const moreCommits = ANCHORS.filter((system) => PROCESS_COUNTS.some((processes) => of(system, processes).cost.commits < of('tickler', processes).cost.commits));
  if (moreWal.length > 0 || moreCommits.length > 0) {
    notes.push(
      `Why Tickler costs more per item${moreWal.length > 0 ? ` in WAL than ${moreWal.join(' and ')}` : ''}${moreCommits.length > 0 ? `${moreWal.length > 0 ? ' and' : ''} in commits than ${moreCommits.join(' and ')}` : ''}: ` +
        'the two reminder updates and the event row above are all written to WAL with their index entries. Per 100 reminders it commits a claim statement and a fire transaction, and ' +
        'each fire transaction ends with pg_notify(\'tickler_events\'), which PostgreSQL delivers by waking every listening connection in the database (one per dispatcher process), ' +
        'each reading the notification queue in a short transaction of its own: about one more commit per 100 reminders per process. ' +
        `Heartbeats (every 3 s) and start-up/stop are spread over ${num(count)} items.`,
    );
  }
  return notes;
}

export const scenario: Scenario = { key: 'throughput', title: 'Backlog throughput', run };
