/**
 * Limits are one rule each, with one answer on every path, and "10 years ahead" is calendar
 * arithmetic (issue 8, items 7 and 8). Every refusal is checked to have written nothing.
 *
 * 1. 26 reminders in createTask and a 26th through addReminder answer the same TOO_MANY_REMINDERS;
 *    25 and a 25th are accepted.
 * 2. A deadline 10 calendar years and one day ahead is refused (the old 3,660-day horizon took it),
 *    on createTask and on updateTask; 10 calendar years less a minute is accepted on both.
 * 3. secondsBeforeDeadline: 315,619,200 (3,653 days) passes the shape check, one more does not.
 */
import { describe, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import { AddReminder, CreateTask, UpdateTask } from './helpers/operations.js';
import { execute, inSeconds, newUser, run, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

/** Rows the user owns, straight from the database. */
async function stored(user: TestUser): Promise<{ tasks: number; reminders: number }> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ tasks: string; reminders: string }>(
      `SELECT (SELECT count(*) FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1) AS tasks,
              (SELECT count(*) FROM reminders r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = t.owner_id WHERE u.subject = $1) AS reminders`,
      [user.subject],
    );
    return { tasks: Number(rows[0]?.tasks), reminders: Number(rows[0]?.reminders) };
  });
}

/** `count` distinct relative reminders, one minute apart. */
function reminders(count: number): Array<{ secondsBeforeDeadline: number }> {
  return Array.from({ length: count }, (_, index) => ({ secondsBeforeDeadline: 60 * (index + 1) }));
}

/** The same UTC date and time `years` calendar years from now, shifted by `ms`. */
function calendarYearsAhead(years: number, ms: number): string {
  const date = new Date();
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return new Date(date.getTime() + ms).toISOString();
}

const DAY_MS = 24 * 3600 * 1000;

describe('reminders per task: one rule, one code', () => {
  it('refuses 26 reminders in createTask with TOO_MANY_REMINDERS and writes nothing; takes 25', async () => {
    const user = await newUser('limits');
    const refused = await run(server, user, CreateTask, { input: { title: 't', deadline: inSeconds(7 * 24 * 3600), reminders: reminders(26) } });
    expect(refused.createTask).toMatchObject({ __typename: 'ValidationError', code: 'TOO_MANY_REMINDERS', field: 'reminders' });
    expect(await stored(user)).toEqual({ tasks: 0, reminders: 0 });

    const accepted = await run(server, user, CreateTask, { input: { title: 't', deadline: inSeconds(7 * 24 * 3600), reminders: reminders(25) } });
    expect(accepted.createTask.__typename).toBe('CreateTaskSuccess');
    expect(await stored(user)).toEqual({ tasks: 1, reminders: 25 });
  });

  it('answers a 26th reminder through addReminder with the same TOO_MANY_REMINDERS; takes a 25th', async () => {
    const user = await newUser('limits');
    const created = await run(server, user, CreateTask, { input: { title: 't', deadline: inSeconds(7 * 24 * 3600), reminders: reminders(24) } });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const taskId = created.createTask.task.id;

    const twentyFifth = await run(server, user, AddReminder, { taskId, reminder: { secondsBeforeDeadline: 60 * 25 } });
    expect(twentyFifth.addReminder.__typename).toBe('AddReminderSuccess');
    expect(await stored(user)).toEqual({ tasks: 1, reminders: 25 });

    const twentySixth = await run(server, user, AddReminder, { taskId, reminder: { secondsBeforeDeadline: 60 * 26 } });
    expect(twentySixth.addReminder).toMatchObject({ __typename: 'ValidationError', code: 'TOO_MANY_REMINDERS' });
    expect(await stored(user)).toEqual({ tasks: 1, reminders: 25 });
  });
});

describe('the deadline horizon is 10 calendar years', () => {
  it('refuses 10 years and a day ahead (within 3,660 days) on createTask, and writes nothing', async () => {
    const user = await newUser('horizon');
    const refused = await run(server, user, CreateTask, { input: { title: 't', deadline: calendarYearsAhead(10, DAY_MS) } });
    expect(refused.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'deadline' });
    // The kind of input the issue quoted: 3,655 days is more than 10 calendar years, whatever the leap days.
    const days = await run(server, user, CreateTask, { input: { title: 't', deadline: inSeconds(3655 * 24 * 3600) } });
    expect(days.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'deadline' });
    expect(await stored(user)).toEqual({ tasks: 0, reminders: 0 });
  });

  it('accepts 10 years less a minute ahead on createTask', async () => {
    const user = await newUser('horizon');
    const accepted = await run(server, user, CreateTask, { input: { title: 't', deadline: calendarYearsAhead(10, -60_000) } });
    expect(accepted.createTask.__typename).toBe('CreateTaskSuccess');
    expect(await stored(user)).toEqual({ tasks: 1, reminders: 0 });
  });

  it('answers a move past the horizon on updateTask with the same code, changing nothing; a move within it is taken', async () => {
    const user = await newUser('horizon');
    const deadline = inSeconds(3600);
    const created = await run(server, user, CreateTask, { input: { title: 't', deadline } });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const id = created.createTask.task.id;

    const refused = await run(server, user, UpdateTask, { id, input: { deadline: calendarYearsAhead(10, DAY_MS) } });
    expect(refused.updateTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    const stillThere = await withPgClient((client) =>
      client.query<{ deadline: Date }>(
        'SELECT t.deadline FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1',
        [user.subject],
      ),
    );
    expect(stillThere.rows.map((row) => row.deadline.toISOString())).toEqual([deadline]);

    const moved = await run(server, user, UpdateTask, { id, input: { deadline: calendarYearsAhead(10, -60_000) } });
    expect(moved.updateTask.__typename).toBe('UpdateTaskSuccess');
  });
});

describe('secondsBeforeDeadline is at most 3,653 days', () => {
  it('passes 315,619,200 to the schedule check and refuses 315,619,201 as malformed, on both paths', async () => {
    const user = await newUser('offset');
    const deadline = inSeconds(7 * 24 * 3600);
    const atMost = await run(server, user, CreateTask, { input: { title: 't', deadline, reminders: [{ secondsBeforeDeadline: 315_619_200 }] } });
    expect(atMost.createTask).toMatchObject({ __typename: 'ScheduleError', code: 'TRIGGER_IN_PAST' });
    const over = await run(server, user, CreateTask, { input: { title: 't', deadline, reminders: [{ secondsBeforeDeadline: 315_619_201 }] } });
    expect(over.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'reminders.0.secondsBeforeDeadline' });
    expect(await stored(user)).toEqual({ tasks: 0, reminders: 0 });

    const created = await run(server, user, CreateTask, { input: { title: 't', deadline } });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const viaAdd = await execute(server, user.token, AddReminder, { taskId: created.createTask.task.id, reminder: { secondsBeforeDeadline: 315_619_201 } });
    expect(viaAdd.data?.addReminder).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    const atMostViaAdd = await run(server, user, AddReminder, { taskId: created.createTask.task.id, reminder: { secondsBeforeDeadline: 315_619_200 } });
    expect(atMostViaAdd.addReminder).toMatchObject({ __typename: 'ScheduleError', code: 'TRIGGER_IN_PAST' });
    expect(await stored(user)).toEqual({ tasks: 1, reminders: 0 });
  });
});
