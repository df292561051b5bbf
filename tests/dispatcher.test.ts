/**
 * The dispatcher's promises under failure: every due reminder fires exactly once (one SENT row, one
 * event) whatever happens to the dispatchers (zombie claims, dead dispatchers, SIGKILL, a paused
 * worker coming back late, four dispatchers racing) or to the task while it is being fired
 * (cancelled, deleted, moved, completed); fires on time without busy polling, also after the
 * notification connection dropped; and hands its claims back when stopped.
 *
 * These tests run on a migrated database of their own (useOwnDatabase): their 1 s leases and
 * deadAfterMs apply to every dispatcher and claim of a database, and on the shared one would take
 * over the reminders and deliveries of other files' dispatchers (which beat every 3 s). Checks are
 * scoped to rows each test created all the same (its own users), so the file would also hold on a
 * shared database.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type Database } from '../src/db/client.js';
import type { ClaimedReminder } from '../src/dispatcher/sql/claim-due-reminders.js';
import type { FiredEvent } from '../src/dispatcher/sql/fire-reminders.js';
import { cancelTask, completeTask, createTask, deleteTask, updateTask } from '../src/domain/tasks.js';
import type { Viewer } from '../src/domain/types.js';
import { viewerForSubject } from '../src/domain/users.js';
import {
  cleanUpDispatchers,
  closeTestPool,
  createGate,
  createUser,
  dispatcherDatabaseUrl,
  dispatcherRow,
  eventRows,
  eventually,
  firingSummary,
  reminderRows,
  seedReminders,
  sleep,
  spawnChildDispatcher,
  startLocalDispatcher,
  stringArray,
  testPool,
  useOwnDatabase,
  type ChildDispatcher,
  type Gate,
  type LocalDispatcher,
} from './helpers/dispatcher.js';

let db: Database;
let previousLogLevel: string | undefined;
let dropOwnDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  // The in-process dispatchers log to this process' stdout; keep the warnings (recoveries), not the chatter.
  previousLogLevel = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL ??= 'warn';
  dropOwnDatabase = await useOwnDatabase();
  db = createPrismaClient(dispatcherDatabaseUrl(), { poolSize: 4 });
});

afterEach(async () => {
  await cleanUpDispatchers();
});

afterAll(async () => {
  await cleanUpDispatchers();
  await db?.$disconnect();
  await closeTestPool();
  await dropOwnDatabase?.();
  if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = previousLogLevel;
});

/** An hour ago: earlier than anything else due, so a test's rows are claimed first. */
const LONG_DUE_MS = -3_600_000;

/** How a dispatcher logs claims it could not fire (src/dispatcher/dispatcher.ts). */
const NOT_FIRED_MESSAGE = 'claims not fired';

function firedLines(child: ChildDispatcher): string[] {
  return child.lines.filter((line) => Array.isArray(line.fired)).flatMap((line) => stringArray(line.fired));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('recovering abandoned claims', () => {
  it('hands back a claim older than the lease (a zombie) and fires it exactly once, leaving younger claims alone', async () => {
    const { userId } = await createUser('zombie');
    // The claimer is registered and "alive" for the next hour: only the lease can free its claims
    // (a claim by an unregistered dispatcher would be handed back at once, whatever its age).
    const holder = `test-zombie-holder-${randomUUID().slice(0, 8)}`;
    await testPool().query(`INSERT INTO dispatchers (id, host, pid, heartbeat_at) VALUES ($1, 'nowhere', 0, now() + interval '1 hour')`, [holder]);
    try {
      const [zombie] = await seedReminders(userId, 1, -60_000, { by: holder, attempt: 1, claimedAgoMs: 30_000 });
      const [young] = await seedReminders(userId, 1, -60_000, { by: holder, attempt: 1, claimedAgoMs: 0 });
      if (!zombie || !young) throw new Error('seeding failed');

      const fired: FiredEvent[] = [];
      const local = await startLocalDispatcher({ leaseMs: 10_000, heartbeatMs: 200, deadAfterMs: 60_000, onFired: (events) => fired.push(...events) });
      await eventually('the zombie claim to fire', async () => (await reminderRows([zombie])).get(zombie)?.status === 'SENT', { timeoutMs: 15_000 });

      const rows = await reminderRows([zombie, young]);
      expect(rows.get(zombie)).toMatchObject({ status: 'SENT', attempt: 2, claimed_by: null, claimed_at: null, last_error: null });
      expect(fired.filter((event) => event.reminderId === zombie)).toHaveLength(1);
      // Within its lease, by a live dispatcher: untouched.
      expect(rows.get(young)).toMatchObject({ status: 'PROCESSING', claimed_by: holder, attempt: 1 });
      expect(await dispatcherRow(holder)).toBeDefined();

      // Several more heartbeats and passes: still one event, and it is the one the dispatcher reported.
      await sleep(1000);
      const events = await eventRows(userId, [zombie]);
      expect(events).toHaveLength(1);
      expect(events[0]?.occurred_at.getTime()).toBe(rows.get(zombie)?.fired_at?.getTime());
      expect(await eventRows(userId, [young])).toHaveLength(0);
      await local.stop();
      await testPool().query('DELETE FROM tasks WHERE id = $1', [rows.get(young)?.task_id]);
    } finally {
      await testPool().query('DELETE FROM dispatchers WHERE id = $1', [holder]);
    }
  });

  it('declares a silent dispatcher dead after deadAfterMs, not before, and fires its young claims once', async () => {
    const { userId } = await createUser('dead');
    const deadAfterMs = 1000;
    const heartbeatMs = 200;
    const dead = `test-dead-${randomUUID().slice(0, 8)}`;
    // Alive now (fresh heartbeat), and never heard from again.
    const { rows: registered } = await testPool().query<{ heartbeat_at: Date }>(
      `INSERT INTO dispatchers (id, host, pid, dead_after_ms) VALUES ($1, 'nowhere', 0, $2) RETURNING heartbeat_at`,
      [dead, deadAfterMs],
    );
    const heartbeatAt = registered[0]?.heartbeat_at;
    if (!heartbeatAt) throw new Error('no heartbeat');
    try {
      // Claimed just now: far inside the one-minute lease, so only the death of its claimer frees it.
      const [claimed] = await seedReminders(userId, 1, -5000, { by: dead, attempt: 1, claimedAgoMs: 0 });
      if (!claimed) throw new Error('seeding failed');
      await startLocalDispatcher({ heartbeatMs, deadAfterMs, leaseMs: 60_000 });

      // As long as the database clock says the claimer is within deadAfterMs, its claim stands.
      let checkedWhileAlive = 0;
      for (;;) {
        const { rows } = await testPool().query<{ status: string; claimed_by: string | null; silent_ms: number }>(
          `SELECT status::text AS status, claimed_by, extract(epoch FROM (clock_timestamp() - $2::timestamptz)) * 1000 AS silent_ms
           FROM reminders WHERE id = $1`,
          [claimed, heartbeatAt],
        );
        const row = rows[0];
        if (!row || row.silent_ms >= deadAfterMs * 0.8) break;
        expect(row).toMatchObject({ status: 'PROCESSING', claimed_by: dead });
        checkedWhileAlive += 1;
        await sleep(50);
      }

      const row = await eventually(
        'the dead dispatcher\'s claim to fire',
        async () => {
          const current = (await reminderRows([claimed])).get(claimed);
          return current?.status === 'SENT' ? current : undefined;
        },
        { timeoutMs: 15_000 },
      );
      const recoveredAfterMs = (row.fired_at?.getTime() ?? 0) - heartbeatAt.getTime();
      console.log(
        `dead dispatcher: claim fired ${recoveredAfterMs} ms after its claimer's last heartbeat ` +
          `(deadAfterMs ${deadAfterMs}, heartbeatMs ${heartbeatMs}; checked alive ${checkedWhileAlive} times before)`,
      );
      expect(recoveredAfterMs).toBeGreaterThanOrEqual(deadAfterMs);
      // deadAfterMs + one heartbeat, plus generous room for a loaded machine.
      expect(recoveredAfterMs).toBeLessThan(deadAfterMs + heartbeatMs + 3000);
      expect(row).toMatchObject({ attempt: 2, claimed_by: null });
      expect(await eventRows(userId, [claimed])).toHaveLength(1);
      expect(await dispatcherRow(dead)).toBeUndefined();
    } finally {
      await testPool().query('DELETE FROM dispatchers WHERE id = $1', [dead]);
    }
  });
});

describe('dispatchers with different settings', () => {
  it('judges each dispatcher by its own deadAfterMs: a short fuse next door never kills a slow heartbeat', async () => {
    const { userId } = await createUser('neighbours');
    // A heartbeats every 3 s (dead after 10 s); B every 200 ms and would call anyone silent for 1 s dead.
    const slowHeart = await startLocalDispatcher({ heartbeatMs: 3000, deadAfterMs: 10_000 });
    await startLocalDispatcher({ heartbeatMs: 200, deadAfterMs: 1000 });
    const [claimed] = await seedReminders(userId, 1, 3_600_000, { by: slowHeart.dispatcher.id, attempt: 1, claimedAgoMs: 0 });
    if (!claimed) throw new Error('seeding failed');
    for (let sample = 0; sample < 40; sample += 1) {
      expect(await dispatcherRow(slowHeart.dispatcher.id)).toBeDefined();
      await sleep(100);
    }
    expect((await reminderRows([claimed])).get(claimed)).toMatchObject({ status: 'PROCESSING', claimed_by: slowHeart.dispatcher.id });
  });
});

describe('dispatchers in separate processes', () => {
  it('recovers the batch of a dispatcher killed with SIGKILL while holding it: 2000 reminders, each fired once', async () => {
    const { userId } = await createUser('crash');
    const ids = await seedReminders(userId, 2000, LONG_DUE_MS);
    const mine = new Set(ids);
    const victim = await spawnChildDispatcher({ batchSize: 250, heartbeatMs: 200, leaseMs: 120_000, holdAfterClaimMs: 600_000, holdBatches: 0 });
    const claimedLine = await victim.waitForLine('the victim to claim a batch', (line) => Array.isArray(line.claimed), 30_000);
    const claimedMine = stringArray(claimedLine.claimed).filter((id) => mine.has(id));
    expect(claimedMine).toHaveLength(250);

    victim.signal('SIGKILL');
    const killedAt = Date.now();
    await within('the victim to exit', victim.exited, 10_000);
    // Its claims outlive it.
    const orphaned = await reminderRows(claimedMine);
    expect([...orphaned.values()].every((row) => row.status === 'PROCESSING' && row.claimed_by === victim.id)).toBe(true);

    const deadAfterMs = 1000;
    const heartbeatMs = 200;
    await startLocalDispatcher({ batchSize: 250, heartbeatMs, deadAfterMs, leaseMs: 120_000 });
    const summary = await eventually(
      'all 2000 reminders to be SENT',
      async () => {
        const current = await firingSummary(userId, ids);
        return current.sent === ids.length ? current : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(summary.withoutEvent).toEqual([]);
    expect(summary.firedTwice).toEqual([]);

    const recovered = await reminderRows(claimedMine);
    const lastRecoveredFiredAt = Math.max(...[...recovered.values()].map((row) => row.fired_at?.getTime() ?? Infinity));
    const recoveryMs = lastRecoveredFiredAt - killedAt;
    console.log(
      `crash: ${claimedMine.length} reminders held by the killed dispatcher; last of them fired ${recoveryMs} ms after SIGKILL ` +
        `(deadAfterMs ${deadAfterMs}, heartbeatMs ${heartbeatMs}, lease 120 s); all ${ids.length} fired ${(summary.lastFiredAt ?? 0) - killedAt} ms after SIGKILL`,
    );
    // Recovered through the death of its claimer, not the two-minute lease.
    expect(recoveryMs).toBeLessThan(20_000);
    expect([...recovered.values()].every((row) => row.attempt === 2)).toBe(true);
    expect(await dispatcherRow(victim.id)).toBeUndefined();
  }, 180_000);

  it('fences a paused worker: its claims are taken over and fired by another, and its late firing changes nothing', async () => {
    const { userId } = await createUser('paused');
    const ids = await seedReminders(userId, 50, LONG_DUE_MS);
    const mine = new Set(ids);
    const holdMs = 3000;
    const paused = await spawnChildDispatcher({
      batchSize: 100,
      leaseMs: 1000,
      heartbeatMs: 200,
      deadAfterMs: 1000,
      holdAfterClaimMs: holdMs,
      holdBatches: 1,
      printFired: true,
      logLevel: 'info',
    });
    const claimedLine = await paused.waitForLine('the worker to claim a batch', (line) => Array.isArray(line.claimed), 30_000);
    paused.signal('SIGSTOP');
    const claimedAt = Date.now();
    const claimedMine = stringArray(claimedLine.claimed).filter((id) => mine.has(id));
    expect(claimedMine).toHaveLength(ids.length);

    const firedByTakeover = new Map<string, number>();
    const takeover = await startLocalDispatcher({
      leaseMs: 1000,
      heartbeatMs: 200,
      deadAfterMs: 1000,
      onFired: (events) => {
        for (const event of events) firedByTakeover.set(event.reminderId, event.firedAt.getTime());
      },
    });
    const summary = await eventually(
      'the takeover to fire every reminder',
      async () => {
        const current = await firingSummary(userId, ids);
        return current.sent === ids.length ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(summary.firedTwice).toEqual([]);
    // It is declared dead too (its lease may expire a little earlier than its heartbeat), so that its
    // row is gone until it registers again.
    await eventually('the paused worker to be declared dead', async () => (await dispatcherRow(paused.id)) === undefined, { timeoutMs: 15_000 });

    // Resume the worker once its hold is over, so that it goes straight on to fire its stale batch.
    await sleep(Math.max(0, claimedAt + holdMs + 500 - Date.now()));
    paused.signal('SIGCONT');
    const notFired = await paused.waitForLine(
      'the resumed worker to report its claims not fired',
      (line) => typeof line.msg === 'string' && line.msg.startsWith(NOT_FIRED_MESSAGE) && line.dispatcher === paused.id,
      20_000,
    );
    expect(notFired.count).toBe(claimedMine.length);
    await paused.waitForLine('the resumed worker to notice it was declared dead', (line) => line.msg === 'dispatcher was declared dead; registering again', 20_000);
    // Whatever else the resumed worker fires, none of these.
    expect(firedLines(paused).filter((id) => mine.has(id))).toEqual([]);

    const after = await firingSummary(userId, ids);
    expect(after).toMatchObject({ sent: ids.length, withoutEvent: [], firedTwice: [] });
    const rows = await reminderRows(ids);
    const events = await eventRows(userId, ids);
    for (const id of claimedMine) {
      const firedAt = firedByTakeover.get(id);
      expect(firedAt, `reminder ${id} was fired by the takeover`).toBeDefined();
      expect(rows.get(id)?.fired_at?.getTime()).toBe(firedAt);
      expect(rows.get(id)).toMatchObject({ status: 'SENT', attempt: 2, claimed_by: null });
      expect(events.filter((event) => event.reminder_id === id).map((event) => event.occurred_at.getTime())).toEqual([firedAt]);
    }
    expect(await paused.stop()).toBe(0);
    await takeover.stop();
  }, 120_000);

  it('shares 3000 due reminders among 4 dispatchers (2 processes, 2 in-process), each fired exactly once', async () => {
    const { userId } = await createUser('shared');
    const firers = new Map<string, string[]>();
    const record = (dispatcherId: string, reminderIds: readonly string[]) => {
      for (const id of reminderIds) firers.set(id, [...(firers.get(id) ?? []), dispatcherId]);
    };
    const children = await Promise.all([
      spawnChildDispatcher({ batchSize: 50, heartbeatMs: 500, printFired: true, logLevel: 'warn' }),
      spawnChildDispatcher({ batchSize: 50, heartbeatMs: 500, printFired: true, logLevel: 'warn' }),
    ]);
    const locals: LocalDispatcher[] = [];
    for (const name of ['a', 'b']) {
      const id = `test-local-shared-${name}-${randomUUID().slice(0, 8)}`;
      locals.push(
        await startLocalDispatcher({ id, batchSize: 50, heartbeatMs: 500, onFired: (events) => record(id, events.map((event) => event.reminderId)) }),
      );
    }
    await sleep(500); // every dispatcher has made its first pass and sleeps

    // Due in 1.5 s: one NOTIFY wakes all four at the same moment.
    const ids = await seedReminders(userId, 3000, 1500);
    const mine = new Set(ids);
    const summary = await eventually(
      'all 3000 reminders to be SENT',
      async () => {
        const current = await firingSummary(userId, ids);
        return current.sent === ids.length ? current : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(summary.withoutEvent).toEqual([]);
    expect(summary.firedTwice).toEqual([]);

    // Stop everyone cleanly (the processes flush their last "fired" lines), then attribute.
    expect(await Promise.all(children.map((child) => child.stop()))).toEqual([0, 0]);
    await Promise.all(locals.map((local) => local.stop()));
    for (const child of children) record(child.id, firedLines(child).filter((id) => mine.has(id)));
    const reportedTwice = [...firers].filter(([, by]) => by.length > 1);
    expect(reportedTwice).toEqual([]);
    expect(ids.filter((id) => !firers.has(id))).toEqual([]);
    const perDispatcher = new Map<string, number>();
    for (const [, [by]] of firers) if (by) perDispatcher.set(by, (perDispatcher.get(by) ?? 0) + 1);
    console.log(`concurrency: 3000 reminders fired per dispatcher: ${JSON.stringify(Object.fromEntries(perDispatcher))}`);
    expect(perDispatcher.size).toBeGreaterThan(1);
  }, 180_000);
});

describe('the task changes while its reminder is claimed', () => {
  interface Held {
    viewer: Viewer;
    userId: string;
    taskId: string;
    deadline: Date;
    /** Due, claimed and held by the dispatcher. */
    dueId: string;
    /** Relative, 30 minutes before the deadline: pending. */
    laterId: string;
    gate: Gate;
    local: LocalDispatcher;
  }

  /** A task with a due relative reminder that a dispatcher has claimed and holds until `gate` opens. */
  async function holdClaimedReminder(): Promise<Held> {
    const viewer = await viewerForSubject(db, `race-${randomUUID()}`, null);
    const deadline = new Date(Date.now() + 3_600_000);
    const task = await createTask(db, viewer, { title: 'raced', deadline, reminders: [{ secondsBeforeDeadline: 1800 }] });
    const [later] = (await testPool().query<{ id: string }>('SELECT id FROM reminders WHERE task_id = $1', [task.id])).rows;
    // Relative and already due (1 h 5 s before a deadline 1 h away): the API refuses that, SQL does not.
    const { rows } = await testPool().query<{ id: string }>(
      `INSERT INTO reminders (task_id, trigger_at, offset_seconds) VALUES ($1, $2::timestamptz - interval '3605 seconds', 3605) RETURNING id`,
      [task.id, deadline],
    );
    const dueId = rows[0]?.id;
    if (!dueId || !later) throw new Error('setup failed');
    const gate = createGate();
    const claimed = deferred();
    const local = await startLocalDispatcher({
      onClaimed: async (claims: readonly ClaimedReminder[]) => {
        if (!claims.some((claim) => claim.id === dueId)) return;
        claimed.resolve();
        await gate.promise;
      },
    });
    await within('the dispatcher to claim the due reminder', claimed.promise, 20_000);
    expect((await reminderRows([dueId])).get(dueId)).toMatchObject({ status: 'PROCESSING', claimed_by: local.dispatcher.id, attempt: 1 });
    return { viewer, userId: viewer.userId, taskId: task.id, deadline, dueId, laterId: later.id, gate, local };
  }

  /** Lets the held pass go on to fire, and waits until it has (stop() waits for the pass). */
  async function release(held: Held): Promise<void> {
    held.gate.open();
    await held.local.stop();
  }

  it('cancelTask: the claimed reminder ends CANCELED, no event', async () => {
    const held = await holdClaimedReminder();
    await cancelTask(db, held.viewer, held.taskId);
    await release(held);
    const rows = await reminderRows([held.dueId, held.laterId]);
    expect(rows.get(held.dueId)).toMatchObject({ status: 'CANCELED', claimed_by: null, fired_at: null });
    expect(rows.get(held.laterId)).toMatchObject({ status: 'CANCELED' });
    expect(await eventRows(held.userId)).toEqual([]);
  });

  it('completeTask: the claimed reminder ends CANCELED, no event', async () => {
    const held = await holdClaimedReminder();
    await completeTask(db, held.viewer, held.taskId);
    await release(held);
    const rows = await reminderRows([held.dueId, held.laterId]);
    expect(rows.get(held.dueId)).toMatchObject({ status: 'CANCELED', claimed_by: null, fired_at: null });
    expect(rows.get(held.laterId)).toMatchObject({ status: 'CANCELED' });
    expect(await eventRows(held.userId)).toEqual([]);
  });

  it('deleteTask: no event, the rows are gone', async () => {
    const held = await holdClaimedReminder();
    await deleteTask(db, held.viewer, held.taskId);
    await release(held);
    expect((await reminderRows([held.dueId, held.laterId])).size).toBe(0);
    expect((await testPool().query('SELECT 1 FROM tasks WHERE id = $1', [held.taskId])).rowCount).toBe(0);
    expect(await eventRows(held.userId)).toEqual([]);
  });

  it('updateTask moving the deadline: the claimed reminder fires at most once, consistently, and never again', async () => {
    const held = await holdClaimedReminder();
    const newDeadline = new Date(held.deadline.getTime() + 3_600_000);
    await updateTask(db, held.viewer, held.taskId, { deadline: newDeadline });
    await release(held);

    const check = async () => {
      const rows = await reminderRows([held.dueId, held.laterId]);
      const due = rows.get(held.dueId);
      const events = await eventRows(held.userId);
      expect(events.length).toBeLessThanOrEqual(1);
      if (due?.status === 'SENT') {
        // Fired as it was claimed: at its old time, once.
        expect(events.map((event) => event.reminder_id)).toEqual([held.dueId]);
        expect(due.trigger_at.getTime()).toBe(held.deadline.getTime() - 3_605_000);
      } else {
        // Or handed back and moved with the deadline, not fired.
        expect(due).toMatchObject({ status: 'PENDING', claimed_by: null });
        expect(due?.trigger_at.getTime()).toBe(newDeadline.getTime() - 3_605_000);
        expect(events).toEqual([]);
      }
      // The pending relative reminder moved with the deadline.
      expect(rows.get(held.laterId)).toMatchObject({ status: 'PENDING' });
      expect(rows.get(held.laterId)?.trigger_at.getTime()).toBe(newDeadline.getTime() - 1_800_000);
      return due?.status;
    };
    const outcome = await check();
    console.log(`updateTask during a claim: the claimed reminder ended ${outcome}`);
    // Another dispatcher, for a few passes and heartbeats: nothing fires a second time.
    const next = await startLocalDispatcher({ heartbeatMs: 200 });
    await sleep(1500);
    await next.stop();
    expect(await check()).toBe(outcome);
  });
});

describe('timing', () => {
  it('fires on time when idle, woken by NOTIFY rather than polling, and catches up after the notification connection drops', async () => {
    const local = await startLocalDispatcher({ idlePollMs: 60_000 });
    await sleep(1000); // the first pass is over; the dispatcher sleeps
    const viewer = await viewerForSubject(db, `ontime-${randomUUID()}`, null);
    const idleFrom = local.statements();
    const triggerAt = new Date(Date.now() + 1500);
    const task = await createTask(db, viewer, { title: 'on time', deadline: new Date(Date.now() + 3_600_000), reminders: [{ at: triggerAt }] });
    const idleStatements = local.statements() - idleFrom;
    const [reminder] = (await testPool().query<{ id: string }>('SELECT id FROM reminders WHERE task_id = $1', [task.id])).rows;
    if (!reminder) throw new Error('no reminder');
    const fired = await eventually(
      'the reminder to fire',
      async () => {
        const row = (await reminderRows([reminder.id])).get(reminder.id);
        return row?.status === 'SENT' ? row : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    const statementsUntilFired = local.statements() - idleFrom;
    const latenessMs = (fired.fired_at?.getTime() ?? 0) - fired.trigger_at.getTime();
    console.log(`on time: fired ${latenessMs} ms after its trigger time; ${statementsUntilFired} dispatcher statements in the ~1.5 s before`);
    expect(fired.trigger_at.getTime()).toBe(triggerAt.getTime());
    expect(latenessMs).toBeGreaterThanOrEqual(0);
    expect(latenessMs).toBeLessThan(500);
    // Asleep, not polling: a handful of statements (a heartbeat, the wake-up pass), not hundreds.
    expect(idleStatements).toBeLessThan(20);
    expect(statementsUntilFired).toBeLessThan(60);
    expect(await eventRows(viewer.userId)).toHaveLength(1);

    // Lose the notification: commit a reminder while the LISTEN connection is down.
    const client = await testPool().connect();
    let outageTriggerAt: Date;
    let outageReminderId: string;
    try {
      await client.query('BEGIN');
      outageTriggerAt = new Date(Date.now() + 1500);
      const { rows } = await client.query<{ id: string }>(
        `WITH t AS (INSERT INTO tasks (owner_id, title, deadline) VALUES ($1, 'during the outage', now() + interval '1 hour') RETURNING id)
         INSERT INTO reminders (task_id, trigger_at) SELECT id, $2 FROM t RETURNING id`,
        [viewer.userId, outageTriggerAt],
      );
      outageReminderId = rows[0]?.id ?? '';
      local.listener.simulateDrop();
      await sleep(30); // the old connection is gone; the listener reconnects after 100 ms at the earliest
      await client.query('COMMIT'); // the NOTIFY goes out now, to nobody of ours
    } finally {
      client.release();
    }
    const caughtUp = await eventually(
      'the reminder committed during the outage to fire',
      async () => {
        const row = (await reminderRows([outageReminderId])).get(outageReminderId);
        return row?.status === 'SENT' ? row : undefined;
      },
      // Without the reconnect catch-up it would wait for the 60 s idle poll.
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    const outageLatenessMs = (caughtUp.fired_at?.getTime() ?? 0) - outageTriggerAt.getTime();
    console.log(`after a dropped LISTEN connection: fired ${outageLatenessMs} ms after its trigger time`);
    expect(outageLatenessMs).toBeGreaterThanOrEqual(0);
    expect(outageLatenessMs).toBeLessThan(5000);
    expect(await eventRows(viewer.userId)).toHaveLength(2);
  }, 60_000);
});

describe('graceful stop', () => {
  async function holdClaims(count: number) {
    const { userId } = await createUser('stop');
    const ids = await seedReminders(userId, count, LONG_DUE_MS);
    const mine = new Set(ids);
    const gate = createGate();
    const claimed = deferred();
    const local = await startLocalDispatcher({
      onClaimed: async (claims) => {
        if (!claims.some((claim) => mine.has(claim.id))) return;
        claimed.resolve();
        await gate.promise;
      },
    });
    await within('the dispatcher to claim the reminders', claimed.promise, 20_000);
    const rows = await reminderRows(ids);
    expect([...rows.values()].every((row) => row.status === 'PROCESSING' && row.claimed_by === local.dispatcher.id)).toBe(true);
    expect(await dispatcherRow(local.dispatcher.id)).toBeDefined();
    return { userId, ids, gate, local };
  }

  it('hands back the claims it holds when its pass cannot complete, and removes its dispatchers row', async () => {
    const { userId, ids, gate, local } = await holdClaims(5);
    const stopped = local.dispatcher.stop();
    let stopResolved = false;
    void stopped.then(() => {
      stopResolved = true;
    });
    await sleep(200);
    // stop() waits for the pass in progress; meanwhile the claims are still held.
    expect(stopResolved).toBe(false);
    // The pass is interrupted between claim and fire.
    gate.fail(new Error('the test interrupts the pass'));
    await within('stop() to finish', stopped, 15_000);

    const rows = await reminderRows(ids);
    for (const id of ids) expect(rows.get(id)).toMatchObject({ status: 'PENDING', claimed_by: null, claimed_at: null, fired_at: null });
    expect(await eventRows(userId, ids)).toEqual([]);
    expect(await dispatcherRow(local.dispatcher.id)).toBeUndefined();
    await local.stop();
    await testPool().query('DELETE FROM tasks WHERE owner_id = $1', [userId]);
  });

  it('wakes an idle dispatcher with the claims it hands back, which fires them at once', async () => {
    const { userId, ids, gate, local } = await holdClaims(5);
    const fired = new Map<string, string>();
    const other = await startLocalDispatcher({
      idlePollMs: 60_000,
      onFired: (events) => {
        for (const event of events) fired.set(event.reminderId, other.dispatcher.id);
      },
    });
    await sleep(500); // its first pass found nothing of ours (held); it sleeps
    const stopped = local.dispatcher.stop();
    gate.fail(new Error('the test interrupts the pass'));
    await within('stop() to finish', stopped, 15_000);
    const releasedAt = Date.now();
    // Only the notification of the release can wake it before its 60 s poll.
    const summary = await eventually(
      'the other dispatcher to fire the released reminders',
      async () => {
        const current = await firingSummary(userId, ids);
        return current.sent === ids.length ? current : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    console.log(`graceful stop: released claims fired by another dispatcher ${(summary.lastFiredAt ?? 0) - releasedAt} ms after stop()`);
    expect(summary).toMatchObject({ withoutEvent: [], firedTwice: [] });
    expect(ids.every((id) => fired.has(id))).toBe(true);
    const rows = await reminderRows(ids);
    // Claimed twice: by the stopped dispatcher, then by the other.
    expect([...rows.values()].every((row) => row.attempt === 2 && row.claimed_by === null)).toBe(true);
    await local.stop();
    await other.stop();
  });

  it('finishes the batch it holds (fired once, nothing left PROCESSING) when its pass completes, and removes its row', async () => {
    const { userId, ids, gate, local } = await holdClaims(5);
    const stopped = local.dispatcher.stop();
    await sleep(200);
    gate.open();
    await within('stop() to finish', stopped, 15_000);
    expect(await firingSummary(userId, ids)).toMatchObject({ sent: ids.length, withoutEvent: [], firedTwice: [] });
    const rows = await reminderRows(ids);
    expect([...rows.values()].every((row) => row.claimed_by === null)).toBe(true);
    expect(await dispatcherRow(local.dispatcher.id)).toBeUndefined();
    await local.stop();
  });
});
