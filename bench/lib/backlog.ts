/**
 * One backlog run (throughput and scale scenarios): N items already due, stored before the workers
 * start; worker processes that connect, say `ready`, and start together on command; the clock runs
 * from the first `started` to the last item at a sink. Also what the run cost the database.
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

export async function runBacklog(context: BenchContext, system: System, processes: number, count: number, into?: string): Promise<BacklogRun> {
  // A database given with `into` may hold fired reminders already (scale scenario): count only this run's.
  const sentBefore = system === 'tickler' && into ? await sentReminders(into) : 0;
  await ensureStatementStats(context.server.adminUrl);
  const url = await seed(context, system, count, into);
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
  }
}

