/**
 * Dispatcher promises pinned to one outcome each (issue 13, items 3 and 4; issue 7's idle cost), on a
 * database of this file's own (the listener is cut by application_name, which would hit other files' dispatchers).
 *
 * 1. No busy polling (README: "Each one sleeps until the next due time ... so it never busy-polls"):
 *    the statements an idle dispatcher sends over a 4 s window, at the documented defaults (heartbeat
 *    3 s, idle poll 10 s), stay within what its heartbeats and idle polls explain (at most 14); a
 *    dispatcher polling every 100 ms sends 40. Then its LISTEN backend is terminated for
 *    real (pg_terminate_backend), the listener reconnects (its public `reconnected` hook, the signal
 *    the dispatcher itself uses), the next window is as quiet, and a reminder created afterwards fires
 *    through the new connection long before the 60 s idle poll this test configures for that part.
 * 1b. The idle poll looks before it fires: with the heartbeat out of the window, polls every 250 ms
 *    send about one statement each (a full pass would send three), and a reminder created with its
 *    wake-up notification switched off is still found by a poll and fired.
 * 2. A deadline moved while the fire statement holds its reminder (README: "Claiming and firing due
 *    reminders is one autocommit statement"): the owner has a webhook endpoint and the test holds the
 *    owner's row (FOR UPDATE), so the fire statement, having locked and settled the reminder, waits at
 *    its end (the deliveries → users foreign-key check of the webhook delivery it writes) with the row
 *    still locked; updateTask then waits behind it. Once the gate
 *    opens, the fire commits first: the reminder is SENT at its old time with one event, and the move
 *    succeeds and moves only the still-pending relative reminder. One outcome, not either of two.
 *    Every wait is on pg_blocking_pids (a lock the test can see), never a sleep.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import { createTask, updateTask } from '../src/domain/tasks.js';
import { viewerForSubject } from '../src/domain/users.js';
import {
  dispatcherDatabaseUrl,
  eventRows,
  eventually,
  reminderRows,
  startLocalDispatcher,
  testPool,
  useDispatcherTestDatabase,
} from './helpers/dispatcher.js';

const own = useDispatcherTestDatabase();

/** Resolves once a backend other than `except` waits on a lock held by `holderPid`. */
async function someoneWaitsOn(holderPid: number, what: string): Promise<number> {
  return eventually(
    what,
    async () => {
      const { rows } = await testPool().query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))',
        [holderPid],
      );
      return rows[0]?.pid;
    },
    { timeoutMs: 20_000, intervalMs: 10 },
  );
}

const WINDOW_MS = 4000;
// README defaults: DISPATCHER_HEARTBEAT_MS 3000, DISPATCHER_IDLE_POLL_MS 10000. A heartbeat is one
// statement; a pass (fire, deliveries, next due) at most 4. Within the window: ceil(4/3) + 1 heartbeats
// and ceil(4/10) + 1 passes, plus the first pass at start: 3 + 3 × 4 = 15 at worst, and 3 to 4 measured.
// A 100 ms idle poll sends 40 in the window (measured with DISPATCHER_IDLE_POLL_MS' default at 100).
const IDLE_BOUND = 14;

async function statementsOver(windowMs: number, statements: () => number): Promise<number> {
  const from = statements();
  // The window is the measurement, not a wait for something to happen.
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  return statements() - from;
}

it('sends only heartbeats and idle polls while idle, also after its LISTEN backend was terminated, and fires through the new connection', { timeout: 90_000 }, async () => {
  const local = await startLocalDispatcher({});
  const idle = await statementsOver(WINDOW_MS, local.statements);
  console.log(`idle at the defaults: ${idle} dispatcher statements in ${WINDOW_MS} ms`);
  expect(idle).toBeLessThanOrEqual(IDLE_BOUND);
  await local.stop();

  // The same with a 60 s idle poll, so that only NOTIFY (through a new connection) can fire in time.
  const sleeper = await startLocalDispatcher({ idlePollMs: 60_000 });
  let onReconnected: () => void = () => undefined;
  const reconnected = new Promise<void>((resolve) => {
    onReconnected = resolve;
  });
  // Awaited: a LISTEN still in flight when the backend is terminated below would reject unheard.
  await sleeper.listener.listen('tickler_test_unused', () => undefined, { reconnected: onReconnected });
  const { rows } = await testPool().query<{ terminated: boolean }>(
    `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'tickler-listener'`,
  );
  expect(rows.map((row) => row.terminated)).toEqual([true]);
  await reconnected;
  const afterLoss = await statementsOver(WINDOW_MS, sleeper.statements);
  console.log(`idle after a terminated LISTEN backend: ${afterLoss} dispatcher statements in ${WINDOW_MS} ms`);
  expect(afterLoss).toBeLessThanOrEqual(IDLE_BOUND);

  const viewer = await viewerForSubject(own.db, `pins-${randomUUID()}`, null);
  const task = await createTask(own.db, viewer, { title: 'after the loss', deadline: new Date(Date.now() + 3_600_000), reminders: [{ at: new Date(Date.now() + 1000) }] });
  const reminderId = (await testPool().query<{ id: string }>('SELECT id FROM reminders WHERE task_id = $1', [task.id])).rows[0]?.id ?? '';
  // Well inside the 60 s idle poll: only the notification, on the replaced connection, can have woken it.
  await eventually('the reminder to fire', async () => (await reminderRows([reminderId])).get(reminderId)?.status === 'SENT', { timeoutMs: 30_000, intervalMs: 20 });
  expect(await eventRows(viewer.userId)).toHaveLength(1);
});

// The idle poll's one statement (issue 7: idle statements per second no worse than 0.63). With the
// heartbeat out of the window, the polls alone: a pass of three statements (fire, claim deliveries,
// next due) made each poll cost 3; looking first (next due) makes one that finds nothing cost 1.
it('an idle poll that finds nothing due sends one statement; one that finds an unannounced reminder fires it', { timeout: 60_000 }, async () => {
  const pollMs = 250;
  const local = await startLocalDispatcher({ idlePollMs: pollMs, heartbeatMs: 30_000, deadAfterMs: 60_000 });
  await statementsOver(500, local.statements); // the first pass at start, with its full set
  const windowMs = 3000;
  const statements = await statementsOver(windowMs, local.statements);
  const polls = windowMs / pollMs;
  console.log(`idle polls every ${pollMs} ms: ${statements} dispatcher statements in ${windowMs} ms`);
  expect(statements).toBeGreaterThanOrEqual(polls / 2);
  expect(statements).toBeLessThanOrEqual(polls + 2);

  // A reminder no notification announces (its insert trigger is off): the poll's look finds it, and
  // the pass planned from that look fires it.
  await testPool().query('ALTER TABLE reminders DISABLE TRIGGER reminders_notify_insert');
  try {
    const viewer = await viewerForSubject(own.db, `pins-${randomUUID()}`, null);
    const at = new Date(Date.now() + 1500);
    const task = await createTask(own.db, viewer, { title: 'unannounced', deadline: new Date(Date.now() + 3_600_000), reminders: [{ at }] });
    const reminderId = (await testPool().query<{ id: string }>('SELECT id FROM reminders WHERE task_id = $1', [task.id])).rows[0]?.id ?? '';
    await eventually('the unannounced reminder to fire', async () => (await reminderRows([reminderId])).get(reminderId)?.status === 'SENT', { timeoutMs: 20_000, intervalMs: 20 });
    expect(await eventRows(viewer.userId)).toHaveLength(1);
  } finally {
    await testPool().query('ALTER TABLE reminders ENABLE TRIGGER reminders_notify_insert');
  }
});

it('a deadline moved while the fire statement holds the reminder: the fire commits first (SENT at the old time, one event), the move succeeds and moves only the pending one', { timeout: 60_000 }, async () => {
  const viewer = await viewerForSubject(own.db, `pins-${randomUUID()}`, null);
  const deadline = new Date(Date.now() + 3_600_000);
  const task = await createTask(own.db, viewer, {
    title: 'moved while firing',
    deadline,
    reminders: [{ secondsBeforeDeadline: 1800 }, { secondsBeforeDeadline: 600 }],
  });
  const reminders = (await testPool().query<{ id: string; offset_seconds: number }>('SELECT id, offset_seconds FROM reminders WHERE task_id = $1', [task.id])).rows;
  const dueId = reminders.find((row) => row.offset_seconds === 1800)?.id ?? '';
  const laterId = reminders.find((row) => row.offset_seconds === 600)?.id ?? '';
  // Make the first one due a minute ago; moved with the deadline it would land in the future.
  const dueAt = new Date(Date.now() - 60_000);
  await testPool().query('UPDATE reminders SET trigger_at = $2 WHERE id = $1', [dueId, dueAt]);

  // The gate: the owner's row, which the fire statement's webhook delivery insert must KEY SHARE lock.
  await testPool().query(`INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, 'https://example.invalid/hook', 'whsec_test')`, [viewer.userId]);
  const gate = new pg.Client({ connectionString: dispatcherDatabaseUrl() });
  await gate.connect();
  try {
    await gate.query('BEGIN');
    await gate.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [viewer.userId]);
    const gatePid = (await gate.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;

    await startLocalDispatcher({ idlePollMs: 60_000 });
    const firePid = await someoneWaitsOn(gatePid, 'the fire statement to wait at the gate');
    const newDeadline = new Date(deadline.getTime() + 3_600_000);
    const move = updateTask(own.db, viewer, task.id, { deadline: newDeadline });
    move.catch(() => undefined);
    await someoneWaitsOn(firePid, 'updateTask to wait for the reminder the fire statement holds');
    await gate.query('COMMIT');

    const moved = await move;
    expect(moved.deadline.getTime()).toBe(newDeadline.getTime());
  } finally {
    await gate.end();
  }
  const rows = await reminderRows([dueId, laterId]);
  expect(rows.get(dueId)).toMatchObject({ status: 'SENT' });
  expect(rows.get(dueId)?.trigger_at.getTime()).toBe(dueAt.getTime());
  expect((await eventRows(viewer.userId)).map((event) => event.reminder_id)).toEqual([dueId]);
  expect(rows.get(laterId)).toMatchObject({ status: 'PENDING' });
  expect(rows.get(laterId)?.trigger_at.getTime()).toBe(deadline.getTime() + 3_600_000 - 600_000);
});
