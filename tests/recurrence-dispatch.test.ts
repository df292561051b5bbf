/**
 * The dispatcher's part of issue 11, with a real Dispatcher on a database of its own: a recurring
 * task whose deadline passes gets its next occurrence, and quiet hours hold back external
 * deliveries (not the event) until the window ends. Passed deadlines and due reminders are made
 * in the tables (the API refuses times in the past); everything else is the real code path.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type Database } from '../src/db/client.js';
import { createTask } from '../src/domain/tasks.js';
import { viewerForSubject } from '../src/domain/users.js';
import {
  cleanUpDispatchers,
  closeTestPool,
  createUser,
  dispatcherDatabaseUrl,
  eventually,
  seedReminders,
  startLocalDispatcher,
  testPool,
  useOwnDatabase,
} from './helpers/dispatcher.js';

let dropDatabase: () => Promise<void>;
let db: Database;

beforeAll(async () => {
  dropDatabase = await useOwnDatabase();
  db = createPrismaClient(dispatcherDatabaseUrl(), { poolSize: 4 });
});
afterEach(cleanUpDispatchers);
afterAll(async () => {
  await db?.$disconnect();
  await closeTestPool();
  await dropDatabase?.();
});

const day = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe('a running dispatcher', () => {
  it('creates the next occurrence when the newest one passes its deadline, once', async () => {
    const local = await startLocalDispatcher();
    const owner = await viewerForSubject(db, `dispatch-${randomUUID()}`, null, 'Asia/Kolkata');
    const task = await createTask(db, owner, { title: 'Daily', deadline: new Date(`${day(3)}T09:00:00+05:30`), recurrence: { rule: 'FREQ=DAILY' } });
    // Time passes: the deadline is now behind us, and the dispatcher is told something is due.
    await testPool().query(`UPDATE tasks SET deadline = now() - interval '1 second' WHERE id = $1`, [task.id]);
    await testPool().query(`SELECT pg_notify('tickler_reminders', (floor(extract(epoch FROM now()) * 1000))::bigint::text)`);
    const rows = await eventually('occurrence 2', async () => {
      const { rows } = await testPool().query<{ occurrence: number; deadline: Date }>(
        'SELECT occurrence, deadline FROM tasks WHERE series_id = (SELECT series_id FROM tasks WHERE id = $1) ORDER BY occurrence',
        [task.id],
      );
      return rows.length >= 2 ? rows : undefined;
    });
    expect(rows.map((row) => row.occurrence)).toEqual([1, 2]);
    expect(rows[1]?.deadline.toISOString()).toBe(new Date(`${day(4)}T09:00:00+05:30`).toISOString());
    await local.stop();
  });

  it('fires on time inside quiet hours, but dates webhook deliveries at the window end', async () => {
    const quiet = await createUser('quiet');
    const loud = await createUser('loud');
    // A window around now, in UTC: from an hour ago to two hours ahead (it may cross midnight).
    const setup = Date.now();
    const minuteOfDay = (ms: number) => Math.floor((ms % 86_400_000) / 60_000);
    await testPool().query('UPDATE users SET quiet_start_minute = $2, quiet_end_minute = $3 WHERE id = $1', [
      quiet.userId,
      minuteOfDay(setup - 3_600_000),
      minuteOfDay(setup + 7_200_000),
    ]);
    for (const user of [quiet, loud]) {
      await testPool().query(`INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, 'https://example.invalid/hook', 'whsec_test')`, [user.userId]);
    }
    const local = await startLocalDispatcher();
    const [quietReminder] = await seedReminders(quiet.userId, 1, -1000);
    const [loudReminder] = await seedReminders(loud.userId, 1, -1000);
    const deliveries = await eventually('both deliveries', async () => {
      const { rows } = await testPool().query<{ reminder_id: string; occurred_at: Date; next_attempt_at: Date }>(
        `SELECT e.reminder_id, e.occurred_at, d.next_attempt_at FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.reminder_id = ANY($1::uuid[])`,
        [[quietReminder, loudReminder]],
      );
      return rows.length === 2 ? new Map(rows.map((row) => [row.reminder_id, row])) : undefined;
    });
    const quietRow = deliveries.get(quietReminder ?? '');
    const loudRow = deliveries.get(loudReminder ?? '');
    // The event happened at trigger time for both; only the quiet user's delivery waits, until the end minute.
    expect(quietRow?.next_attempt_at.toISOString()).toBe(new Date(Math.floor((setup + 7_200_000) / 60_000) * 60_000).toISOString());
    expect(loudRow?.next_attempt_at.toISOString()).toBe(loudRow?.occurred_at.toISOString());
    expect(quietRow && quietRow.occurred_at.getTime() - setup).toBeLessThan(3_600_000);
    await local.stop();
  });
});
