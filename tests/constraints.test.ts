/** Impossible schedules and bad input are rejected with their codes, and nothing is written. */
import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { taskCount, withPgClient } from './helpers/database.js';
import { AddReminder, CreateTask, UpdateTask } from './helpers/operations.js';
import { execute, inSeconds, newUser, run, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

/** The same moment `years` calendar years from now: beyond the 10-year horizon for 11, whatever today is. */
function inYears(years: number): string {
  const date = new Date();
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date.toISOString();
}

async function reminderCount(user: TestUser): Promise<number> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ count: string }>(
      `SELECT count(*) FROM reminders r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = t.owner_id
       WHERE u.subject = $1`,
      [user.subject],
    );
    return Number(rows[0]?.count);
  });
}

describe('createTask', () => {
  // Times are made when each test runs (not when the table is read), so they keep their meaning.
  it.each([
    ['a reminder after the deadline', () => [{ at: inSeconds(7200) }], 'TRIGGER_AFTER_DEADLINE', 'reminders.0'],
    ['a reminder in the past', () => [{ at: inSeconds(-60) }], 'TRIGGER_IN_PAST', 'reminders.0'],
    ['a relative reminder that lands in the past', () => [{ secondsBeforeDeadline: 7200 }], 'TRIGGER_IN_PAST', 'reminders.0'],
    [
      'one bad reminder among good ones',
      () => [{ at: inSeconds(600) }, { secondsBeforeDeadline: 60 }, { at: inSeconds(3660) }],
      'TRIGGER_AFTER_DEADLINE',
      'reminders.2',
    ],
  ])('rejects %s and writes nothing', async (_case, reminders, code, field) => {
    const user = await newUser();
    const result = await run(server, user, CreateTask, {
      input: { title: 'Pay rent', deadline: inSeconds(3600), reminders: reminders() },
    });
    expect(result.createTask).toMatchObject({ __typename: 'ScheduleError', code, field });
    expect(await taskCount(user)).toBe(0);
    expect(await reminderCount(user)).toBe(0);
  });

  it('rejects a deadline in the past', async () => {
    const user = await newUser();
    const result = await run(server, user, CreateTask, { input: { title: 'Too late', deadline: inSeconds(-1) } });
    expect(result.createTask).toMatchObject({ __typename: 'ScheduleError', code: 'DEADLINE_IN_PAST', field: 'deadline' });
    expect(await taskCount(user)).toBe(0);
  });

  it.each([
    ['an empty title', { title: '   ' }, 'title'],
    ['an overlong title', { title: 'x'.repeat(201) }, 'title'],
    ['an overlong description', { description: 'x'.repeat(5001) }, 'description'],
    ['a deadline beyond the horizon', { deadline: inYears(11) }, 'deadline'],
    ['a reminder with both kinds', { reminders: [{ at: inSeconds(1800), secondsBeforeDeadline: 60 }] }, 'reminders.0'],
    ['a reminder with neither kind', { reminders: [{}] }, 'reminders.0'],
    ['a negative offset', { reminders: [{ secondsBeforeDeadline: -5 }] }, 'reminders.0.secondsBeforeDeadline'],
  ])('rejects %s as VALIDATION', async (_case, override, field) => {
    const user = await newUser();
    const result = await run(server, user, CreateTask, {
      input: { title: 'Valid title', deadline: inSeconds(3600), ...override },
    });
    expect(result.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field });
    expect(await taskCount(user)).toBe(0);
  });

  it('rejects more reminders than a task may have', async () => {
    const user = await newUser();
    const reminders = Array.from({ length: 26 }, (_, index) => ({ secondsBeforeDeadline: 60 + index }));
    const result = await run(server, user, CreateTask, { input: { title: 'Busy', deadline: inSeconds(3600), reminders } });
    expect(result.createTask).toMatchObject({ __typename: 'ValidationError', field: 'reminders' });
    expect(await taskCount(user)).toBe(0);
  });

  it('rejects a DateTime without a time zone before any resolver runs', async () => {
    const user = await newUser();
    const result = await execute(server, user.token, CreateTask, {
      input: { title: 'Ambiguous', deadline: inSeconds(3600).replace(/\.\d+Z$/, '') },
    });
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.message).toMatch(/time zone/);
    expect(await taskCount(user)).toBe(0);
  });

  it('accepts a reminder exactly at the deadline', async () => {
    const user = await newUser();
    const deadline = inSeconds(3600);
    const result = await run(server, user, CreateTask, {
      input: { title: 'Edge', deadline, reminders: [{ at: deadline }] },
    });
    expect(result.createTask.__typename).toBe('CreateTaskSuccess');
    expect(await reminderCount(user)).toBe(1);
  });
});

describe('addReminder', () => {
  async function taskWithDeadline(user: TestUser, seconds: number): Promise<string> {
    const result = await run(server, user, CreateTask, { input: { title: 'Task', deadline: inSeconds(seconds) } });
    if (result.createTask.__typename !== 'CreateTaskSuccess') throw new Error('setup failed');
    return result.createTask.task.id;
  }

  it.each([
    ['after the deadline', () => ({ at: inSeconds(7200) }), 'TRIGGER_AFTER_DEADLINE'],
    ['in the past', () => ({ at: inSeconds(-1) }), 'TRIGGER_IN_PAST'],
    ['relative, landing in the past', () => ({ secondsBeforeDeadline: 3700 }), 'TRIGGER_IN_PAST'],
  ])('rejects a reminder %s and writes nothing', async (_case, reminder, code) => {
    const user = await newUser();
    const taskId = await taskWithDeadline(user, 3600);
    const result = await run(server, user, AddReminder, { taskId, reminder: reminder() });
    expect(result.addReminder).toMatchObject({ __typename: 'ScheduleError', code });
    expect(await reminderCount(user)).toBe(0);
  });

  it('stops at the reminder limit', async () => {
    const user = await newUser();
    const taskId = await taskWithDeadline(user, 3600);
    for (let index = 0; index < 25; index += 1) {
      const added = await run(server, user, AddReminder, { taskId, reminder: { secondsBeforeDeadline: 10 + index } });
      expect(added.addReminder.__typename).toBe('AddReminderSuccess');
    }
    const result = await run(server, user, AddReminder, { taskId, reminder: { secondsBeforeDeadline: 5 } });
    expect(result.addReminder).toMatchObject({ __typename: 'ValidationError', code: 'TOO_MANY_REMINDERS' });
    expect(await reminderCount(user)).toBe(25);
  });
});

describe('updateTask', () => {
  it('rejects moving the deadline into the past and changes nothing', async () => {
    const user = await newUser();
    const deadline = inSeconds(3600);
    const created = await run(server, user, CreateTask, { input: { title: 'Keep', deadline } });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error('setup failed');
    const result = await run(server, user, UpdateTask, {
      id: created.createTask.task.id,
      input: { deadline: inSeconds(-10), title: 'Changed' },
    });
    expect(result.updateTask).toMatchObject({ __typename: 'ScheduleError', code: 'DEADLINE_IN_PAST' });
    const row = await withPgClient((client) =>
      client.query<{ title: string; deadline: Date }>('SELECT title, deadline FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1', [user.subject]),
    );
    expect(row.rows[0]?.title).toBe('Keep');
    expect(row.rows[0]?.deadline.toISOString()).toBe(deadline);
  });
});

/** Milliseconds since the Unix epoch held in the first 48 bits of a UUID version 7 (RFC 9562, section 5.7). */
function uuidV7Time(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

describe('row ids', () => {
  // Time-ordered ids keep rows created together on the same index pages (the scale benchmark's
  // reason, prisma/migrations/20261130140000_uuid_v7); a random id here would pass every other test.
  it('makes every id a UUID version 7 holding its creation time on the database clock', async () => {
    const user = await newUser();
    const dbNow = async () =>
      withPgClient(async (client) => (await client.query<{ ms: number }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`)).rows[0]!.ms);
    const before = Math.floor(await dbNow());
    const created = await run(server, user, CreateTask, {
      input: { title: 'Ids', deadline: inSeconds(3600), reminders: [{ secondsBeforeDeadline: 60 }, { secondsBeforeDeadline: 120 }] },
    });
    const after = await dbNow();
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error('setup failed');
    const { task } = created.createTask;
    const rowIds = [task.id, ...task.reminders.map((reminder) => reminder.id)].map((globalId) => decodeGlobalID(globalId).id);
    const userId = await withPgClient(async (client) => (await client.query<{ id: string }>('SELECT id FROM users WHERE subject = $1', [user.subject])).rows[0]!.id);
    for (const id of [...rowIds, userId]) {
      // xxxxxxxx-xxxx-7xxx-[89ab]xxx-xxxxxxxxxxxx: version 7, variant 10 (RFC 9562, sections 4.1 and 4.2).
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    for (const id of rowIds) {
      expect(uuidV7Time(id)).toBeGreaterThanOrEqual(before);
      expect(uuidV7Time(id)).toBeLessThanOrEqual(after);
    }
  });

  it('orders ids made one after another by their time, whatever their random part', async () => {
    const ids = await withPgClient(async (client) => {
      const { rows } = await client.query<{ id: string }>(`SELECT tickler_uuid_v7()::text AS id FROM generate_series(1, 2000) ORDER BY generate_series`);
      return rows.map((row) => row.id);
    });
    const times = ids.map(uuidV7Time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Made over at least one millisecond boundary in most runs; within one, only the random part differs.
    expect(new Set(ids).size).toBe(ids.length);
  });
});
