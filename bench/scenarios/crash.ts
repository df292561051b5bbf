/**
 * Crash recovery: a worker process takes 200 due items and blocks before finishing any; it is
 * killed with SIGKILL and a replacement is started. Measured: time from the kill until all 200
 * reached a sink, and how many reached one more than once. Tickler, graphile-worker and pg-boss
 * each in a fresh database, workers in child processes, waiting at most N minutes per system.
 */
import { ANCHORS, describeProfile, graphileJobCounts, pgBossJobCounts, prepareAnchor, addAnchorJobs, spawnAnchor, type AnchorSystem } from '../lib/anchors.js';
import type { Table } from '../lib/report.js';
import { ms, num } from '../lib/stats.js';
import { reminderCounts, seedReminders, sleep, spawnDispatcher, waitUntil } from '../lib/tickler.js';
import { stopAll, type Fixture, type FixtureMessage } from '../fixtures/protocol.js';
import type { BenchContext, Scenario } from '../lib/context.js';

const ITEMS = 200;

interface CrashResult {
  /** SIGKILL to the last item done; NaN when not all were done in time. */
  recoveredMs: number;
  doneInTime: number;
  /** Items that reached a sink (Tickler: events in the log; anchors: completed handler runs) more than once. */
  doneMoreThanOnce: number;
  /** What the database showed at the end. */
  state: string;
}

const claimedAll = (message: FixtureMessage) => message.kind === 'claimed' && typeof message.count === 'number' && message.count >= ITEMS;

async function ticklerCrash(context: BenchContext, waitMs: number): Promise<CrashResult> {
  const url = await context.server.createTicklerDatabase();
  await seedReminders(url, Array.from({ length: ITEMS }, (_, index) => Date.now() - 10_000 + index));
  let victim: Fixture | undefined;
  let replacement: Fixture | undefined;
  try {
    victim = spawnDispatcher(url, { batchSize: ITEMS, blockAfterClaim: true, name: 'tickler dispatcher (to be killed)' });
    await victim.waitFor(claimedAll, `a claim of ${ITEMS}`);
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    replacement = spawnDispatcher(url, { name: 'tickler dispatcher (replacement)' });
    const fixture = replacement;
    const recovered = await waitUntil(() => fixture.doneCount() >= ITEMS || !fixture.isRunning(), waitMs, 20);
    const doneAt = fixture.lastDoneAt();
    await replacement.stop();
    const counts = await reminderCounts(url);
    return {
      recoveredMs: recovered && fixture.doneCount() >= ITEMS ? doneAt - killedAt : NaN,
      doneInTime: Math.min(ITEMS, fixture.doneCount()),
      doneMoreThanOnce: counts.firedMoreThanOnce,
      state: `${counts.sent} SENT, ${counts.processing} PROCESSING, ${counts.pending} PENDING; ${counts.events} events`,
    };
  } finally {
    await stopAll([victim, replacement], 2000);
  }
}

async function anchorCrash(context: BenchContext, system: AnchorSystem, waitMs: number): Promise<CrashResult> {
  const url = await context.server.createDatabase(system.replace('-', '_'));
  await prepareAnchor(system, url);
  await addAnchorJobs(system, url, Array.from({ length: ITEMS }, () => ({})));
  let victim: Fixture | undefined;
  let replacement: Fixture | undefined;
  try {
    victim = spawnAnchor(system, url, 'hold200', { block: true, name: `${system} (to be killed)` });
    // graphile-worker hands a blocking task one job at a time: wait until its local queue holds the rest.
    if (system === 'graphile-worker') {
      await victim.waitFor((message) => message.kind === 'claimed', 'a job');
      await waitForLocked(url, ITEMS, 30_000);
    } else {
      await victim.waitFor(claimedAll, `a batch of ${ITEMS}`);
    }
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    replacement = spawnAnchor(system, url, 'default', { reportIds: true, name: `${system} (replacement)` });
    const fixture = replacement;
    const recovered = await waitUntil(() => fixture.doneCount() >= ITEMS || !fixture.isRunning(), waitMs, 50);
    const doneAt = fixture.lastDoneAt();
    await replacement.stop();
    const runs = new Map<string, number>();
    for (const message of fixture.messages) {
      if (message.kind !== 'completed' || !Array.isArray(message.ids)) continue;
      for (const id of message.ids) runs.set(String(id), (runs.get(String(id)) ?? 0) + 1);
    }
    let state: string;
    if (system === 'graphile-worker') {
      const counts = await graphileJobCounts(url);
      state = `${ITEMS - counts.remaining} completed, ${counts.locked} still locked by the killed worker, ${counts.remaining - counts.locked} waiting`;
    } else {
      const counts = await pgBossJobCounts(url);
      state = `${counts.completed} completed, ${counts.active} still active (held by the killed worker), ${counts.created} created, ${counts.other} other`;
    }
    return {
      recoveredMs: recovered && fixture.doneCount() >= ITEMS ? doneAt - killedAt : NaN,
      doneInTime: Math.min(ITEMS, fixture.doneCount()),
      doneMoreThanOnce: [...runs.values()].filter((count) => count > 1).length,
      state,
    };
  } finally {
    await stopAll([victim, replacement], 2000);
  }
}

async function waitForLocked(url: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await graphileJobCounts(url)).locked < count) {
    if (Date.now() > deadline) throw new Error(`graphile-worker did not lock ${count} jobs within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const GOVERNED_BY: Record<AnchorSystem, string> = {
  'graphile-worker':
    'a locked job becomes available again only through the reset-locked sweep (run at start-up and then every 8–10 min: ' +
    'minResetLockedInterval / maxResetLockedInterval), which unlocks jobs whose lock is more than 4 hours old; the 4 h is fixed in its SQL ' +
    'and graphile-worker 0.17 has no worker heartbeat, so jobs held by a killed worker wait about 4 h',
  'pg-boss':
    'an active job is failed (and, with the default retryLimit 2, retried) only once expireInSeconds (default 15 min) has passed since it started, ' +
    'by the supervisor\'s maintenance that runs every 120 s (maintenanceIntervalSeconds); so about 15–17 min, then a default worker takes 1 job per 2 s',
};

async function run(context: BenchContext): Promise<Table[]> {
  const minutes = context.size(1, 5);
  const waitMs = minutes * 60_000;
  const tickler = await ticklerCrash(context, waitMs);
  const anchors = {} as Record<AnchorSystem, CrashResult>;
  for (const system of ANCHORS) {
    await sleep(1000);
    anchors[system] = await anchorCrash(context, system, waitMs);
  }
  const recovered = (result: CrashResult) => (Number.isFinite(result.recoveredMs) ? ms(result.recoveredMs) : `not within ${minutes} min`);
  const ratio = (anchor: CrashResult) => {
    if (!Number.isFinite(tickler.recoveredMs)) return 'n/a';
    if (!Number.isFinite(anchor.recoveredMs)) return `> ${Math.floor(waitMs / tickler.recoveredMs)}× better`;
    const value = anchor.recoveredMs / tickler.recoveredMs;
    return value >= 1 ? `${value.toFixed(1)}× better` : `${(1 / value).toFixed(1)}× worse`;
  };
  const row = (label: string, pick: (result: CrashResult) => string, withRatio = false) => [
    label,
    pick(tickler),
    pick(anchors['graphile-worker']),
    withRatio ? ratio(anchors['graphile-worker']) : '',
    pick(anchors['pg-boss']),
    withRatio ? ratio(anchors['pg-boss']) : '',
  ];
  return [
    {
      title: `Crash recovery: ${ITEMS} claimed items, worker killed with SIGKILL`,
      notes: [
        `${ITEMS} items already due. A worker process takes all ${ITEMS} and blocks before any reaches its sink; it is killed with SIGKILL, and a replacement process is started ` +
          `right after (its start-up is included). Measured from the SIGKILL until the replacement's sink/handler was called for the last one; waited at most ${minutes} min per system. ` +
          '"More than once" = items that reached a sink (Tickler: events in the log per reminder; anchors: completed handler runs per job id) twice or more.',
        `Tickler: the killed dispatcher has batch size ${ITEMS} and blocks in \`onClaimed\` after claiming (between claim and fire); the replacement has default settings ` +
          '(heartbeat 3 s, a dispatcher silent for 10 s is dead and its claims go back, lease 5 min).',
        `graphile-worker: killed worker (its task blocks) = ${describeProfile('graphile-worker', 'hold200')}; replacement = ${describeProfile('graphile-worker', 'default')}. ` +
          `What governs recovery: ${GOVERNED_BY['graphile-worker']}.`,
        `pg-boss: killed worker (its handler blocks) = ${describeProfile('pg-boss', 'hold200')}; replacement = ${describeProfile('pg-boss', 'default')}. ` +
          `What governs recovery: ${GOVERNED_BY['pg-boss']}.`,
      ],
      columns: ['', 'Tickler', 'graphile-worker', 'Tickler vs graphile-worker', 'pg-boss', 'Tickler vs pg-boss'],
      rows: [
        row(`all ${ITEMS} done after the kill`, recovered, true),
        row(`done within ${minutes} min`, (result) => `${num(result.doneInTime)} / ${ITEMS}`),
        row('done more than once', (result) => num(result.doneMoreThanOnce)),
        row('database afterwards', (result) => result.state),
      ],
    },
  ];
}

export const scenario: Scenario = { key: 'crash', title: 'Crash recovery', run };
