/**
 * Stall: three dispatcher processes share N reminders spread over a window; in the middle of it one
 * of them is frozen with SIGSTOP (at a moment its backend is inside a transaction: the worst case,
 * it may hold locks) for a while, then let go with SIGCONT. A paused process is what a long GC,
 * a swapped-out VM or a debugger looks like to the others: alive on the network, silent.
 *
 * Measured from the database (see bench/lib/fires.ts): lateness of the reminders the frozen one had
 * not claimed (the others must not notice), how late the ones it held fired (handed on once it is
 * silent for dead-after), and what it wrote after SIGCONT to rows it had held before (fencing: it
 * must record nothing for them). Fired exactly once, throughout.
 */
import { loadConfig } from '../../src/config.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import {
  ensureWorkerRoles,
  installWriteAudit,
  latenessOf,
  reminderFires,
  remindersClaimedBy,
  waitForBackendInTransaction,
  workerUrl,
  writesBy,
} from '../lib/fires.js';
import type { Table } from '../lib/report.js';
import { distribution, ms, num } from '../lib/stats.js';
import { seedReminders, sleep, spawnDispatcher } from '../lib/tickler.js';
import { stopAll, type Fixture } from '../fixtures/protocol.js';

const ROLES = ['bench_worker_1', 'bench_worker_2', 'bench_worker_3'] as const;
const LEAD_MS = 2000;

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(1_000, 5_000);
  const windowMs = context.size(12_000, 30_000);
  const pauseMs = context.size(6_000, 15_000);
  const config = loadConfig({ NODE_ENV: 'development' });
  const deadAfterMs = config.dispatcher.deadAfterMs;

  const url = await context.server.createTicklerDatabase();
  await ensureWorkerRoles(context.server.adminUrl, ROLES);
  await installWriteAudit(url);
  const [victimRole] = ROLES;
  const fixtures: Fixture[] = [];
  try {
    for (const role of ROLES) fixtures.push(spawnDispatcher(workerUrl(url, role), { name: `tickler dispatcher as ${role}` }));
    const ids = await Promise.all(fixtures.map(async (fixture) => String((await fixture.waitFor((m) => m.kind === 'started', 'started')).id)));
    const victim = fixtures[0] as Fixture;
    const victimId = ids[0] as string;

    const base = Date.now() + LEAD_MS;
    const seeded = await seedReminders(
      url,
      Array.from({ length: count }, () => base + Math.floor(Math.random() * windowMs)),
    );
    // Freeze it mid-window, at a moment its backend is inside a writing transaction (holding row
    // locks), or at least inside a transaction, or after 2 s of looking.
    await sleep(Math.max(0, base + (windowMs - pauseMs) / 2 - Date.now()));
    const caught =
      (await waitForBackendInTransaction(context.server.adminUrl, victimRole, 1500, true)) ??
      (await waitForBackendInTransaction(context.server.adminUrl, victimRole, 500));
    victim.kill('SIGSTOP');
    const stoppedAtMs = Date.now();
    // Its claims as they stand while it is frozen (a statement already sent may still commit; counted below).
    await sleep(200);
    const held = await remindersClaimedBy(url, victimId);
    await sleep(Math.max(0, stoppedAtMs + pauseMs - Date.now()));
    victim.kill('SIGCONT');
    const resumedAtMs = Date.now();

    // Until the window is over and every reminder fired (or a grace period passed).
    const graceUntil = base + windowMs + context.size(20_000, 30_000);
    await sleep(Math.max(0, base + windowMs + 1000 - Date.now()));
    let fires = await reminderFires(url, seeded.ownerId, true);
    while (fires.some((fire) => fire.events === 0) && Date.now() < graceUntil) {
      await sleep(500);
      fires = await reminderFires(url, seeded.ownerId, true);
    }
    // What it fired from a statement in flight when it froze also counts as held by it.
    for (const fire of fires) {
      if (fire.firedBy === victimRole && fire.committedAtMs > stoppedAtMs && fire.committedAtMs - fire.triggerAtMs > 1000) held.add(fire.reminderId);
    }
    const afterResume = await writesBy(url, victimRole, resumedAtMs);
    await stopAll(fixtures);

    const heldFires = fires.filter((fire) => held.has(fire.reminderId));
    const others = fires.filter((fire) => !held.has(fire.reminderId));
    const duringPause = others.filter((fire) => fire.triggerAtMs >= stoppedAtMs && fire.triggerAtMs < resumedAtMs);
    const othersLateness = distribution(latenessOf(others));
    const pauseLateness = distribution(latenessOf(duringPause));
    const heldLateness = distribution(latenessOf(heldFires));
    // Writes after SIGCONT that touch what it held before: a fenced worker records nothing for them.
    const heldEventIds = new Set<string>();
    const staleWrites = afterResume.filter((write) => {
      if (write.table === 'events') return write.ref !== null && held.has(write.ref);
      if (write.table === 'reminders') return held.has(write.rowId);
      return false;
    });
    for (const write of afterResume) if (write.table === 'events') heldEventIds.add(write.rowId);
    const firedByVictimAfter = afterResume.filter((write) => write.table === 'events').length;
    const byRole = ROLES.map((role) => `${role}: ${num(fires.filter((fire) => fire.firedBy === role).length)}`).join(', ');
    const notFired = fires.filter((fire) => fire.events === 0).length;
    const twice = fires.filter((fire) => fire.events > 1).length;
    const yes = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const heldBound = deadAfterMs + 1000;

    return [
      {
        title: `Stall: one of three dispatchers frozen (SIGSTOP) for ${ms(pauseMs)}, ${num(count)} reminders over ${ms(windowMs)}`,
        notes: [
          `Three dispatcher processes with default settings (as \`npm run worker\`), each connected as a database role of its own; ${num(count)} reminders with trigger times drawn ` +
            `uniformly at random over ${ms(windowMs)}, stored ${ms(LEAD_MS)} before the window opened. Mid-window the first process was frozen with SIGSTOP ` +
            `(while its backend was ${caught ? `${caught.state}: \`${caught.query}\`` : 'not in a transaction: none seen within 2 s'}) and let go with SIGCONT ${ms(pauseMs)} later.`,
          'Lateness = commit time of the reminder\'s event (pg_xact_commit_timestamp) minus its trigger time, database clock. "Held" = claimed by the frozen process and not fired when it froze ' +
            '(PROCESSING rows claimed by it, if the design has that state, plus reminders its in-flight statement fired late).',
          `After SIGCONT: audited writes (trigger on reminders, events, deliveries, delivery_attempts) by the frozen process's role that committed after SIGCONT. ` +
            `Of those, rows it had held before the freeze: ${num(staleWrites.length)}; events it appended after SIGCONT (fresh work, due after it came back): ${num(firedByVictimAfter)}.`,
          `Fired by each process: ${byRole}.`,
          ...(pauseMs < deadAfterMs
            ? [`The freeze (${ms(pauseMs)}) is shorter than dead-after (${ms(deadAfterMs)}) in this mode: any claims it held were still its own when it woke, and finishing them then is correct.`]
            : []),
          `Targets (issue 7): reminders it had not claimed keep lateness p99 under 100 ms; those it had claimed fire within dead-after + 1 s = ${ms(heldBound)}; after SIGCONT it records nothing for them.`,
        ],
        columns: ['', 'Tickler', 'target'],
        rows: [
          ['not held: lateness p50', ms(othersLateness.p50), ''],
          ['not held: lateness p99', ms(othersLateness.p99), `< 100 ms: ${yes(othersLateness.p99 < 100)}`],
          ['not held: lateness max', ms(othersLateness.max), ''],
          [`not held, due during the freeze (${num(duringPause.length)}): p99 / max`, `${ms(pauseLateness.p99)} / ${ms(pauseLateness.max)}`, ''],
          ['held by the frozen one: count', num(heldFires.length), ''],
          ['held by the frozen one: lateness max', heldFires.length ? ms(heldLateness.max) : 'none held', `≤ ${ms(heldBound)}: ${heldFires.length ? yes(heldLateness.max <= heldBound) : 'met'}`],
          ['writes after SIGCONT to rows it held', num(staleWrites.length), `0: ${yes(staleWrites.length === 0)}`],
          ['not fired', num(notFired), `0: ${yes(notFired === 0)}`],
          ['fired more than once', num(twice), `0: ${yes(twice === 0)}`],
        ],
      },
    ];
  } finally {
    for (const fixture of fixtures) fixture.kill('SIGCONT');
    await stopAll(fixtures, 2000);
  }
}

export const scenario: Scenario = { key: 'stall', title: 'Stall', run };
