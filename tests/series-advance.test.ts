/**
 * A recurring task's deadline passing creates the next occurrence exactly once, also when a
 * completion races it. Runs on a database of its own (the dispatcher step advances every due
 * series in its database). Passed deadlines are made by setting them into the past in the table,
 * which the API forbids: that is the state the dispatcher finds when time has moved on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type Database } from '../src/db/client.js';
import { advanceDueSeries } from '../src/dispatcher/advance-series.js';
import { completeTask, createTask } from '../src/domain/tasks.js';
import type { Viewer } from '../src/domain/types.js';
import { viewerForSubject } from '../src/domain/users.js';
import { closeTestPool, dispatcherDatabaseUrl, eventually, testPool, useOwnDatabase } from './helpers/dispatcher.js';
import { randomUUID } from 'node:crypto';

let dropDatabase: () => Promise<void>;
let db: Database;

beforeAll(async () => {
  dropDatabase = await useOwnDatabase();
  db = createPrismaClient(dispatcherDatabaseUrl(), { poolSize: 6 });
});

afterAll(async () => {
  await db?.$disconnect();
  await closeTestPool();
  await dropDatabase?.();
});

async function viewer(): Promise<Viewer> {
  return viewerForSubject(db, `series-${randomUUID()}`, null, 'Asia/Kolkata');
}

/** YYYY-MM-DD, `days` after today (UTC). */
function day(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** A daily 09:00 Asia/Kolkata series starting in three days, its first deadline then put in the past. */
async function overdueSeries(owner: Viewer, reminders: Array<{ secondsBeforeDeadline: number }> = []) {
  const task = await createTask(db, owner, {
    title: 'Water the plants',
    deadline: new Date(`${day(3)}T09:00:00+05:30`),
    recurrence: { rule: 'FREQ=DAILY' },
    reminders,
  });
  await testPool().query(`UPDATE tasks SET deadline = now() - interval '1 second' WHERE id = $1`, [task.id]);
  return task;
}

async function occurrencesOf(taskId: string) {
  const { rows } = await testPool().query<{ occurrence: number; status: string; deadline: Date; reminders: number }>(
    `SELECT t.occurrence, t.status::text AS status, t.deadline, (SELECT count(*)::int FROM reminders r WHERE r.task_id = t.id) AS reminders
     FROM tasks t WHERE t.series_id = (SELECT series_id FROM tasks WHERE id = $1) ORDER BY t.occurrence`,
    [taskId],
  );
  return rows;
}

describe('a passed deadline', () => {
  it('creates the next occurrence (the first one still ahead) with its reminders, once', async () => {
    const owner = await viewer();
    const task = await overdueSeries(owner, [{ secondsBeforeDeadline: 3600 }]);
    expect(await advanceDueSeries(db)).toEqual({ created: 1, failed: 0 });
    expect(await advanceDueSeries(db)).toEqual({ created: 0, failed: 0 });
    // Occurrence 2 is day(4) 09:00 IST: the rule's own time, whatever happened to occurrence 1's deadline.
    expect((await occurrencesOf(task.id)).map((row) => [row.occurrence, row.status, row.deadline.toISOString(), row.reminders])).toEqual([
      [1, 'ACTIVE', expect.any(String), 1],
      [2, 'ACTIVE', new Date(`${day(4)}T09:00:00+05:30`).toISOString(), 1],
    ]);
    // Completing the overdue occurrence 1 afterwards creates nothing more: it is not the newest.
    await completeTask(db, owner, task.id);
    expect((await occurrencesOf(task.id)).map((row) => [row.occurrence, row.status])).toEqual([[1, 'COMPLETED'], [2, 'ACTIVE']]);
  });

  it('racing a completion of the same occurrence, yields exactly one next occurrence (10 series)', async () => {
    const owner = await viewer();
    const tasks = await Promise.all(Array.from({ length: 10 }, () => overdueSeries(owner)));
    await Promise.all([...tasks.map((task) => completeTask(db, owner, task.id)), advanceDueSeries(db), advanceDueSeries(db)]);
    for (const task of tasks) {
      expect((await occurrencesOf(task.id)).map((row) => [row.occurrence, row.status])).toEqual([[1, 'COMPLETED'], [2, 'ACTIVE']]);
    }
  });

  it('a dispatcher passes over a series a completion holds, and the completion creates the one next occurrence', async () => {
    const owner = await viewer();
    const task = await overdueSeries(owner);
    const seriesId = (await testPool().query<{ series_id: string }>('SELECT series_id FROM tasks WHERE id = $1', [task.id])).rows[0]?.series_id;
    // The test holds the series row, as a completion in progress does.
    const holder = await testPool().connect();
    let completion: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM task_series WHERE id = $1 FOR UPDATE', [seriesId]);
      completion = completeTask(db, owner, task.id);
      // Observable signal: the completion is waiting for the series row.
      await eventually('the completion to wait for the series lock', async () => {
        const { rows } = await testPool().query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM task_series%FOR UPDATE%' AND pid <> $1`,
          [(await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0],
        );
        return (rows[0]?.n ?? 0) >= 1;
      });
      expect(await advanceDueSeries(db)).toEqual({ created: 0, failed: 0 });
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    await completion;
    expect(await advanceDueSeries(db)).toEqual({ created: 0, failed: 0 });
    expect((await occurrencesOf(task.id)).map((row) => [row.occurrence, row.status])).toEqual([[1, 'COMPLETED'], [2, 'ACTIVE']]);
  });

  it('ends the series when the rule has nothing left (COUNT), creating nothing', async () => {
    const owner = await viewer();
    const task = await createTask(db, owner, { title: 'Once', deadline: new Date(`${day(3)}T09:00:00+05:30`), recurrence: { rule: 'FREQ=DAILY;COUNT=1' } });
    await testPool().query(`UPDATE tasks SET deadline = now() - interval '1 second' WHERE id = $1`, [task.id]);
    expect(await advanceDueSeries(db)).toEqual({ created: 0, failed: 0 });
    const { rows } = await testPool().query<{ status: string }>('SELECT s.status::text AS status FROM task_series s JOIN tasks t ON t.series_id = s.id WHERE t.id = $1', [task.id]);
    expect(rows).toEqual([{ status: 'ENDED' }]);
    expect(await occurrencesOf(task.id)).toHaveLength(1);
  });
});
