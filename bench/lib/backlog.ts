/**
 * One backlog run (throughput and scale scenarios): N items already due, stored before the workers
 * start; worker processes that connect, say `ready`, and start together on command; the clock runs
 * from the first `started` to the last item at a sink. Also what the run cost the database.
 *
 * Steady state, not start-up, is what a backlog measures (a worker in production has been up for
 * hours when a backlog arrives), so each run starts from the same state:
 * - **Warm processes.** Before it says `ready`, every worker process (Tickler's and the anchor's
 *   alike) works off a backlog of the same size in a scratch database of its own, with the same
 *   settings, then stops that worker. Measured on this machine (2026-11-30): a cold Tickler process
 *   spends 10-14 µs of CPU per reminder in Node over a 50,000 backlog, mostly V8 compiling on its
 *   background threads; a warm one 3-4 µs. With one process that CPU comes from the idle second core;
 *   with two it is taken from the database backends, so a cold start biased the 2-vs-1 ratio.
 * - **No leftovers.** Nothing of an earlier run competes for the cores: its databases are dropped
 *   (no autovacuum of them meanwhile) and a CHECKPOINT writes out its dirty pages before the clock
 *   starts (no checkpoint spread over the measured seconds by an earlier run's WAL).
 * - **Vacuumed backlog.** The freshly stored items are vacuumed and analyzed before the clock starts,
 *   as autovacuum would have done to a backlog that built up over time; otherwise its worker starts
 *   on them at a random moment of the measured seconds (with two workers on two cores, on their CPU).
 */
import { addAnchorJobs, prepareAnchor, spawnAnchor, unfinishedJobs, type AnchorSystem } from './anchors.js';
import type { BenchContext } from './context.js';
import { withClient } from './database.js';
import { costSince, ensureStatementStats, readCounters, seedReminders, spawnDispatcher, statementTotals, type WorkCost } from './tickler.js';
import { stopAll, waitForDone, type Fixture } from '../fixtures/protocol.js';

/** The anchors' settings for a backlog: their documented batching (see anchors.ts). */
export const BACKLOG_ANCHOR_PROFILE = 'comparable';

export type BacklogSystem = 'tickler' | AnchorSystem;
const PROFILE = BACKLOG_ANCHOR_PROFILE;
type System = BacklogSystem;

export interface BacklogRun {
  perSecond: number;
  elapsedMs: number;
  cost: WorkCost;
  /** WAL written by the run's own statements (pg_stat_statements wal_bytes of its database). */
  statementWalBytes: number;
  /** Items the database shows as done afterwards (reminders SENT / jobs completed). */
  completed: number;
  timedOut: boolean;
}

/** Seeds a fresh database (or, with `into`, one already prepared: the scale scenario's big tables). */
async function seed(context: BenchContext, system: System, count: number, into?: string): Promise<string> {
  // Every Tickler reminder of a run belongs to one user, the anchors' jobs to no one: concurrent fires
  // then append to the same right-most page of the events' per-user index, the worst case for them.
  if (system === 'tickler') {
    const url = into ?? (await context.server.createTicklerDatabase());
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

async function sentReminders(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ sent: number }>(`SELECT count(*)::int AS sent FROM reminders WHERE status = 'SENT'`);
    return rows[0]?.sent ?? 0;
  });
}

async function completedItems(system: System, url: string, count: number): Promise<number> {
  if (system === 'tickler') return sentReminders(url);
  return count - (await unfinishedJobs(system, url));
}

/** A warm-up works off as many items as the run; on a slow machine that can take a while. */
const WARM_UP_TIMEOUT_MS = 180_000;

export async function runBacklog(context: BenchContext, system: System, processes: number, count: number, into?: string): Promise<BacklogRun> {
  // A database given with `into` may hold fired reminders already (scale scenario): count only this run's.
  const sentBefore = system === 'tickler' && into ? await sentReminders(into) : 0;
  await ensureStatementStats(context.server.adminUrl);
  const url = await seed(context, system, count, into);
  await withClient(url, (client) => client.query('VACUUM ANALYZE'));
  const warmUpUrls: string[] = [];
  const dropWarmUps = async () => {
    for (const warmUpUrl of warmUpUrls.splice(0)) await context.server.dropDatabase(warmUpUrl);
  };
  const fixtures: Fixture[] = [];
  try {
    for (let index = 0; index < processes; index += 1) {
      const name = `${system} worker ${index + 1}/${processes}`;
      const warmUp = { url: await seed(context, system, count), count };
      warmUpUrls.push(warmUp.url);
      fixtures.push(
        system === 'tickler'
          ? spawnDispatcher(url, { waitForStart: true, warmUp, name })
          : spawnAnchor(system, url, PROFILE, { waitForStart: true, warmUp, name }),
      );
    }
    await Promise.all(fixtures.map((fixture) => fixture.waitFor((message) => message.kind === 'ready', 'ready', WARM_UP_TIMEOUT_MS)));
    // The warm-ups are done: their databases are dropped now, and their dirty pages with them.
    await dropWarmUps();
    await withClient(context.server.adminUrl, (client) => client.query('CHECKPOINT'));
    const before = await readCounters(url);
    const statementsBefore = await statementTotals(context.server.adminUrl, url);
    for (const fixture of fixtures) fixture.send('start');
    const started = await Promise.all(fixtures.map((fixture) => fixture.waitFor((message) => message.kind === 'started', 'started')));
    const startedAt = Math.min(...started.map((message) => message.at));
    const timeoutMs = Math.max(60_000, count * 10);
    const done = await waitForDone(fixtures, count, timeoutMs);
    // Graceful stops, so every worker hands back what it holds and its backends report their stats.
    await stopAll(fixtures);
    const cost = await costSince(url, before);
    const statementsAfter = await statementTotals(context.server.adminUrl, url);
    const elapsedMs = done.lastAt - startedAt;
    return {
      perSecond: done.timedOut ? NaN : (count / elapsedMs) * 1000,
      elapsedMs,
      cost,
      statementWalBytes: statementsAfter.walBytes - statementsBefore.walBytes,
      completed: (await completedItems(system, url, count)) - sentBefore,
      timedOut: done.timedOut,
    };
  } finally {
    await stopAll(fixtures, 2000);
    await dropWarmUps();
    // A database given with `into` is the caller's (the scale scenario reuses its loaded one).
    if (!into) await context.server.dropDatabase(url);
  }
}

