/**
 * Crash: a dispatcher process killed with SIGKILL while it works, with another one running.
 *
 * (a) Reminders: N reminders due at one instant, two dispatchers (default settings) working them
 *     off; the first is killed at the worst moment (its backend inside a transaction) mid-burst.
 *     Measured from the database: every reminder fired exactly once, and how long after the kill
 *     the reminders it held (claimed and not fired) and all the others fired.
 * (b) Deliveries: one dispatcher holds 200 webhook deliveries in flight to a receiver that never
 *     answers; a second starts, the first is killed, the receiver starts answering. Measured: from
 *     the kill until the survivor delivered the first and the last of them, against the dead-after
 *     bound (a dispatcher silent for dead-after is dead; its claims go back at the next heartbeat).
 */
import { loadConfig } from '../../src/config.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { ensureWorkerRoles, installWriteAudit, reminderFires, remindersClaimedBy, waitForBackendInTransaction, workerUrl, type ReminderFire } from '../lib/fires.js';
import type { Table } from '../lib/report.js';
import { ms, num } from '../lib/stats.js';
import { addWebhookEndpoint, seedReminders, sleep, spawnDispatcher, waitUntil } from '../lib/tickler.js';
import { startWebhookReceiver, type WebhookReceiver } from '../lib/webhook-receiver.js';
import { stopAll, type Fixture } from '../fixtures/protocol.js';

const VICTIM = 'bench_worker_1';
const SURVIVOR = 'bench_worker_2';
const DELIVERIES = 200;

/** The dispatcher settings `npm run worker` runs with when nothing is configured. */
function defaultTimings(): { heartbeatMs: number; deadAfterMs: number } {
  const config = loadConfig({ NODE_ENV: 'development' });
  return { heartbeatMs: config.dispatcher.heartbeatMs, deadAfterMs: config.dispatcher.deadAfterMs };
}

async function started(fixture: Fixture): Promise<string> {
  const message = await fixture.waitFor((m) => m.kind === 'started', 'started', 60_000);
  return String(message.id);
}

interface BurstCrash {
  count: number;
  killedAtMs: number;
  /** What the victim's backend was doing when it was killed. */
  killedDuring: string;
  victimFiredBeforeKill: number;
  /** Reminders the victim held (claimed, not fired) at the kill, and their fires. */
  held: ReminderFire[];
  others: ReminderFire[];
  notFired: number;
  firedMoreThanOnce: number;
}

async function burstCrash(context: BenchContext, count: number): Promise<BurstCrash> {
  const url = await context.server.createTicklerDatabase();
  await ensureWorkerRoles(context.server.adminUrl, [VICTIM, SURVIVOR]);
  await installWriteAudit(url);
  let victim: Fixture | undefined;
  let survivor: Fixture | undefined;
  try {
    victim = spawnDispatcher(workerUrl(url, VICTIM), { name: 'tickler dispatcher (to be killed)' });
    survivor = spawnDispatcher(workerUrl(url, SURVIVOR), { name: 'tickler dispatcher (survivor)' });
    const victimId = await started(victim);
    await started(survivor);
    const dueAt = Date.now() + 2000;
    const seeded = await seedReminders(url, Array.from({ length: count }, () => dueAt));
    // Mid-burst: from the instant on, at the first moment its backend is inside a writing transaction
    // (firing: holding row locks), or else inside any transaction.
    await sleep(Math.max(0, dueAt - 20 - Date.now()));
    const caught =
      (await waitForBackendInTransaction(context.server.adminUrl, VICTIM, 2000, true)) ??
      (await waitForBackendInTransaction(context.server.adminUrl, VICTIM, 500));
    victim.kill('SIGKILL');
    const killedAtMs = Date.now();
    const victimFiredBeforeKill = victim.doneCount();
    await victim.exited;
    const held = await remindersClaimedBy(url, victimId);
    let fires = await reminderFires(url, seeded.ownerId, true);
    const waitUntilMs = Date.now() + context.size(30_000, 60_000);
    while (fires.some((fire) => fire.events === 0) && Date.now() < waitUntilMs) {
      await sleep(250);
      fires = await reminderFires(url, seeded.ownerId, true);
    }
    // Also held: what the victim's last statement fired (committed after the kill, from its dead connection).
    for (const fire of fires) if (fire.firedBy === VICTIM && fire.committedAtMs > killedAtMs) held.add(fire.reminderId);
    return {
      count,
      killedAtMs,
      killedDuring: caught ? `${caught.state}: \`${caught.query}\`` : 'no transaction seen within 2.5 s',
      victimFiredBeforeKill,
      held: fires.filter((fire) => held.has(fire.reminderId)),
      others: fires.filter((fire) => !held.has(fire.reminderId)),
      notFired: fires.filter((fire) => fire.events === 0).length,
      firedMoreThanOnce: fires.filter((fire) => fire.events > 1).length,
    };
  } finally {
    await stopAll([victim, survivor], 2000);
  }
}

interface DeliveryCrash {
  heldAtKill: number;
  /** Kill to the first and the last delivery answered by the receiver; NaN if none / not all. */
  firstMs: number;
  lastMs: number;
  delivered: number;
  /** Deliveries (webhook-id) answered more than once. */
  answeredTwice: number;
  waitedMs: number;
}

async function deliveryCrash(context: BenchContext): Promise<DeliveryCrash> {
  const url = await context.server.createTicklerDatabase();
  await ensureWorkerRoles(context.server.adminUrl, [VICTIM, SURVIVOR]);
  let receiver: WebhookReceiver | undefined;
  let victim: Fixture | undefined;
  let survivor: Fixture | undefined;
  try {
    receiver = await startWebhookReceiver();
    const seeded = await seedReminders(url, Array.from({ length: DELIVERIES }, (_, index) => Date.now() - 5000 + index));
    await addWebhookEndpoint(url, seeded.ownerId, receiver.url);
    victim = spawnDispatcher(workerUrl(url, VICTIM), {
      allowLoopback: true,
      deliveryConcurrency: DELIVERIES,
      perEndpoint: DELIVERIES,
      name: 'tickler dispatcher holding deliveries (to be killed)',
    });
    const open = receiver;
    if (!(await waitUntil(() => open.openCount() >= DELIVERIES || !victim?.isRunning(), 60_000, 10))) {
      throw new Error(`the dispatcher held only ${open.openCount()} of ${DELIVERIES} deliveries open after 60 s`);
    }
    survivor = spawnDispatcher(workerUrl(url, SURVIVOR), { allowLoopback: true, name: 'tickler dispatcher (survivor)' });
    await started(survivor);
    const heldAtKill = receiver.openCount();
    victim.kill('SIGKILL');
    const killedAtMs = Date.now();
    await victim.exited;
    receiver.answerAll();
    const waitedMs = context.size(60_000, 120_000);
    // Only requests made after the kill: the killed process's held requests died with it.
    const answered = () => open.received.filter((entry) => entry.answered && entry.at >= killedAtMs);
    const answeredIds = () => new Set(answered().map((entry) => entry.webhookId));
    await waitUntil(() => answeredIds().size >= DELIVERIES, waitedMs, 20);
    const times = answered().map((entry) => entry.at - killedAtMs).sort((a, b) => a - b);
    const perId = new Map<string, number>();
    for (const entry of answered()) perId.set(entry.webhookId, (perId.get(entry.webhookId) ?? 0) + 1);
    const delivered = answeredIds().size;
    return {
      heldAtKill,
      firstMs: times[0] ?? NaN,
      lastMs: delivered >= DELIVERIES ? (times[times.length - 1] ?? NaN) : NaN,
      delivered,
      answeredTwice: [...perId.values()].filter((n) => n > 1).length,
      waitedMs,
    };
  } finally {
    await stopAll([victim, survivor], 2000);
    await receiver?.close();
  }
}

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(1_000, 5_000);
  const timings = defaultTimings();
  const burst = await burstCrash(context, count);
  await sleep(1000);
  const deliveries = await deliveryCrash(context);

  const afterKill = (fires: readonly ReminderFire[]) => {
    const fired = fires.filter((fire) => fire.events > 0).map((fire) => fire.committedAtMs - burst.killedAtMs);
    return fired.length === 0 ? NaN : Math.max(...fired);
  };
  const lateAfterKill = [...burst.held, ...burst.others].filter((fire) => fire.events > 0 && fire.committedAtMs > burst.killedAtMs + 1000).length;
  const bound = timings.deadAfterMs + timings.heartbeatMs;
  const yes = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    {
      title: `Crash: a dispatcher killed (SIGKILL) mid-burst of ${num(count)} reminders`,
      notes: [
        `${num(count)} reminders due at one instant; two dispatcher processes with default settings (as \`npm run worker\`), each connected as a database role of its own. ` +
          'From the instant on, pg_stat_activity was polled every few ms and the first was killed with SIGKILL as soon as its backend was inside a writing transaction (firing, holding row locks). No replacement is started: the other one carries on.',
        'Fired = an event in the log; when = the commit time of that event\'s transaction (pg_xact_commit_timestamp, track_commit_timestamp=on), database clock. ' +
          '"Held by the killed one" = reminders claimed by it and not fired at the kill (a PROCESSING state, if the design has one), plus any its last statement fired after the kill (write audit by role).',
        `Killed while: ${burst.killedDuring}. It had reported ${num(burst.victimFiredBeforeKill)} fired before the kill.`,
        'Target (issue 7): every reminder fired exactly once and none later than 1 s after the kill. Read for what the kill can affect (the reminders the killed process held), that is the second row; ' +
          'read for every reminder of the burst, it also needs the one surviving process to drain the rest of the burst within 1 s of the kill, which is throughput, not recovery (third row).',
      ],
      columns: ['', 'Tickler', 'target'],
      rows: [
        ['held by the killed one: count', num(burst.held.length), ''],
        ['held by the killed one: last fired after the kill', burst.held.length ? ms(afterKill(burst.held)) : 'none held', `≤ 1 s: ${burst.held.length ? yes(afterKill(burst.held) <= 1000) : 'met'}`],
        ['all: last fired after the kill', ms(afterKill([...burst.held, ...burst.others])), `≤ 1 s for every reminder: ${yes(lateAfterKill === 0)}`],
        ['all: fired later than 1 s after the kill', num(lateAfterKill), ''],
        ['not fired', num(burst.notFired), `0: ${yes(burst.notFired === 0)}`],
        ['fired more than once', num(burst.firedMoreThanOnce), `0: ${yes(burst.firedMoreThanOnce === 0)}`],
      ],
    },
    {
      title: `Crash: a dispatcher killed (SIGKILL) while it holds ${DELIVERIES} webhook deliveries`,
      notes: [
        `${DELIVERIES} reminders already due for a user with one webhook endpoint on a receiver in the bench process that holds every request open. The first dispatcher ` +
          `(delivery concurrency and per-endpoint limit ${DELIVERIES}, webhooks to loopback allowed, otherwise defaults) fires them and holds all ${DELIVERIES} deliveries in flight; ` +
          'a second dispatcher with default settings is started and running; then the first is killed with SIGKILL and the receiver starts answering 204 at once.',
        `Measured from the kill until the receiver answered the first and the last of the ${DELIVERIES} deliveries (distinct webhook-id). ` +
          `Bound: dead-after ${ms(timings.deadAfterMs)} + one heartbeat period ${ms(timings.heartbeatMs)} = ${ms(bound)} (defaults), the time for the survivor's heartbeat to see the silence and hand the claims back.`,
        `Requests open at the receiver when the first was killed: ${num(deliveries.heldAtKill)}. Waited at most ${ms(deliveries.waitedMs)}. ` +
          'Target (issue 7): deliveries resumed within the dead-after bound (first row). Once resumed, the survivor delivers them at most 4 at a time to the one endpoint (its default per-endpoint limit), so the last one comes later.',
        'Previous figure for 200 claimed reminders (issue 7): 12.9 s. graphile-worker and pg-boss were not rerun in this scenario: a job locked by a killed worker waits for fixed timeouts there (graphile-worker: 4 h lock; pg-boss: expireInSeconds, 15 min by default).',
      ],
      columns: ['', 'Tickler', 'target'],
      rows: [
        ['first delivery resumed after the kill', ms(deliveries.firstMs), `≤ ${ms(bound)}: ${yes(deliveries.firstMs <= bound)}`],
        [`all ${DELIVERIES} delivered after the kill`, Number.isFinite(deliveries.lastMs) ? ms(deliveries.lastMs) : `not within ${ms(deliveries.waitedMs)}`, ''],
        ['delivered (distinct webhook-id answered)', `${num(deliveries.delivered)} / ${DELIVERIES}`, ''],
        ['answered more than once', num(deliveries.answeredTwice), ''],
      ],
    },
  ];
}

export const scenario: Scenario = { key: 'crash', title: 'Crash recovery', run };
