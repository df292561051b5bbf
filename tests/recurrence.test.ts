/**
 * Recurring tasks, zones, local reminders and snoozes through the API, on a real server and
 * database. Expected instants are written from literal UTC offsets in the tables below (checked
 * against the tz database with Python's zoneinfo), never computed by the code under test. Dates are
 * relative to now: DST cases use the first transition in the table that is still ahead.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signToken } from '../src/auth/tokens.js';
import type { CreateTaskInput } from './gql/graphql.js';
import { withPgClient } from './helpers/database.js';
import {
  CancelRecurringTask,
  CompleteRecurringTask,
  CreateRecurringTask,
  GetRecurringTask,
  MoveRecurringTask,
  SetTimeZone,
  SnoozeReminder,
  ViewerSettings,
} from './helpers/recurrence-operations.js';
import { DeleteTask } from './helpers/operations.js';
import { execute, run, TEST_JWT_SECRET, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

async function userWith(zoneinfo?: string): Promise<TestUser> {
  const subject = `recurrence-${randomUUID()}`;
  return { subject, token: await signToken(TEST_JWT_SECRET, subject, zoneinfo === undefined ? {} : { zoneinfo }) };
}

const taskGlobalId = (id: string) => Buffer.from(`Task:${id}`).toString('base64');
const databaseId = (globalId: string) => Buffer.from(globalId, 'base64').toString('utf8').split(':')[1] ?? '';
const iso = (local: string) => new Date(local).toISOString();

/** `YYYY-MM-DD` plus `days` calendar days (plain calendar arithmetic on a date, no zones involved). */
function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const todayUtc = () => new Date().toISOString().slice(0, 10);

/**
 * DST transitions, as the tz database's current rules state them (local date of the change; offsets
 * before and after): EU, last Sunday of March and of October; US, second Sunday of March and first
 * Sunday of November; Lord Howe, first Sunday of April and of October (30 minutes). Written out from the
 * rules, not taken from the code under test, and computed for whatever year it is: no table to run out.
 */
const RULES: Record<string, Array<{ month: number; sunday: number | 'last'; before: string; after: string }>> = {
  'Europe/Berlin': [
    { month: 3, sunday: 'last', before: '+01:00', after: '+02:00' },
    { month: 10, sunday: 'last', before: '+02:00', after: '+01:00' },
  ],
  'America/New_York': [
    { month: 3, sunday: 2, before: '-05:00', after: '-04:00' },
    { month: 11, sunday: 1, before: '-04:00', after: '-05:00' },
  ],
  'Australia/Lord_Howe': [
    { month: 4, sunday: 1, before: '+11:00', after: '+10:30' },
    { month: 10, sunday: 1, before: '+10:30', after: '+11:00' },
  ],
};

/** The `sunday`th (or last) Sunday of `month` in `year`, as YYYY-MM-DD (plain calendar arithmetic). */
function sundayOf(year: number, month: number, sunday: number | 'last'): string {
  if (sunday === 'last') {
    const last = new Date(Date.UTC(year, month, 0)); // day 0 of the next month: the last of this one
    last.setUTCDate(last.getUTCDate() - last.getUTCDay());
    return last.toISOString().slice(0, 10);
  }
  const first = new Date(Date.UTC(year, month - 1, 1));
  first.setUTCDate(1 + ((7 - first.getUTCDay()) % 7) + 7 * (sunday - 1));
  return first.toISOString().slice(0, 10);
}

const TRANSITIONS: Record<string, Array<[string, string, string]>> = Object.fromEntries(
  Object.entries(RULES).map(([zone, rules]) => {
    const thisYear = new Date().getUTCFullYear();
    const days = [thisYear, thisYear + 1, thisYear + 2].flatMap((year) =>
      rules.map((rule): [string, string, string] => [sundayOf(year, rule.month, rule.sunday), rule.before, rule.after]),
    );
    return [zone, days.sort(([a], [b]) => a.localeCompare(b))];
  }),
);

/** The first transition of `zone` at least 9 days ahead (room for a weekly series before it). */
function nextTransition(zone: string): { day: string; before: string; after: string } {
  const earliest = Date.now() + 9 * 86_400_000;
  const found = TRANSITIONS[zone]?.find(([day]) => new Date(`${day}T00:00:00Z`).getTime() > earliest);
  if (!found) throw new Error(`the transition table for ${zone} has run out; extend it`);
  return { day: found[0], before: found[1], after: found[2] };
}

async function createRecurring(user: TestUser, input: CreateTaskInput) {
  const result = await run(server, user, CreateRecurringTask, { input });
  if (result.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`setup failed: ${JSON.stringify(result.createTask)}`);
  return result.createTask.task;
}

async function getTask(user: TestUser, id: string) {
  const result = await run(server, user, GetRecurringTask, { id });
  if (result.task.__typename !== 'TaskSuccess') throw new Error(`not found: ${id}`);
  return result.task.task;
}

/** The occurrences of the series of task `globalId`, from the database: [number, task id, status]. */
async function seriesRows(globalId: string) {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ occurrence: number; id: string; status: string; last_occurrence: number; series_status: string }>(
      `SELECT t.occurrence, t.id, t.status::text AS status, s.last_occurrence, s.status::text AS series_status
       FROM tasks t JOIN task_series s ON s.id = t.series_id
       WHERE t.series_id = (SELECT series_id FROM tasks WHERE id = $1) ORDER BY t.occurrence`,
      [databaseId(globalId)],
    );
    return rows;
  });
}

async function ownedCounts(user: TestUser) {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ tasks: number; series: number }>(
      `SELECT (SELECT count(*)::int FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1) AS tasks,
              (SELECT count(*)::int FROM task_series s JOIN users u ON u.id = s.owner_id WHERE u.subject = $1) AS series`,
      [user.subject],
    );
    return rows[0];
  });
}

describe('time zones', () => {
  it('a new user takes the token zoneinfo claim when it is an IANA zone, else UTC', async () => {
    const kolkata = await userWith('Asia/Kolkata');
    expect((await run(server, kolkata, ViewerSettings)).viewer.timeZone).toBe('Asia/Kolkata');
    const bogus = await userWith('Mars/Olympus');
    expect((await run(server, bogus, ViewerSettings)).viewer.timeZone).toBe('UTC');
    const none = await userWith();
    expect((await run(server, none, ViewerSettings)).viewer).toEqual({ timeZone: 'UTC', quietHours: null });
  });

  it('setTimeZone refuses an unknown zone with a typed error naming the field, and changes nothing', async () => {
    const user = await userWith('Europe/Berlin');
    for (const zone of ['Mars/Olympus', '+05:30', '']) {
      const result = await run(server, user, SetTimeZone, { timeZone: zone });
      expect(result.setTimeZone).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'timeZone' });
    }
    expect((await run(server, user, ViewerSettings)).viewer.timeZone).toBe('Europe/Berlin');
    const set = await run(server, user, SetTimeZone, { timeZone: 'america/new_york' });
    expect(set.setTimeZone).toEqual({ __typename: 'SetTimeZoneSuccess', viewer: { timeZone: 'America/New_York' } });
  });

  it('a task takes its own zone, or its owner zone', async () => {
    const user = await userWith('Asia/Kolkata');
    const deadline = `${addDays(todayUtc(), 3)}T09:00:00+05:30`;
    const own = await createRecurring(user, { title: 'Own zone', deadline, timeZone: 'Europe/Berlin' });
    const owners = await createRecurring(user, { title: 'Owner zone', deadline });
    expect([own.timeZone, owners.timeZone]).toEqual(['Europe/Berlin', 'Asia/Kolkata']);
  });
});

describe('bad input is a typed error naming the field, and nothing is written', () => {
  const day = () => addDays(todayUtc(), 3);
  it.each([
    [{ timeZone: 'Mars/Olympus' }, 'timeZone', /IANA/],
    [{ recurrence: { rule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' } }, 'recurrence.rule', /no occurrence/],
    [{ recurrence: { rule: 'FREQ=DAILY;COUNT=1001' } }, 'recurrence.rule', /COUNT/],
    [{ recurrence: { rule: 'FREQ=DAILY;BYHOUR=9' } }, 'recurrence.rule', /BYHOUR/],
    [{ recurrence: { rule: 'FREQ=DAILY;BYMONTHDAY=-32' } }, 'recurrence.rule', /BYMONTHDAY/],
    [{ recurrence: { rule: 'FREQ=DAILY;UNTIL=20200101T000000Z' } }, 'recurrence.rule', /UNTIL is before the first deadline/],
    [{ recurrence: { rule: 'FREQ=SECONDLY' } }, 'recurrence.rule', /FREQ/],
    [{ reminders: [{ local: { daysBefore: 1, at: '25:00' } }] }, 'reminders.0.local.at', /HH:MM/],
    [{ reminders: [{ local: { daysBefore: -1 } }] }, 'reminders.0.local.daysBefore', /negative/],
    [{ reminders: [{ local: { daysBefore: 1 }, secondsBeforeDeadline: 60 }] }, 'reminders.0', /exactly one/],
  ] as Array<[Partial<CreateTaskInput>, string, RegExp]>)('%j', async (extra, field, message) => {
    const user = await userWith('Europe/Berlin');
    const result = await run(server, user, CreateRecurringTask, { input: { title: 'Bad', deadline: `${day()}T09:00:00+01:00`, ...extra } });
    expect(result.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field });
    expect((result.createTask as { message: string }).message).toMatch(message);
    expect(await ownedCounts(user)).toEqual({ tasks: 0, series: 0 });
  });
});

describe('DST through the API: daily, weekly and local-relative reminders keep local time', () => {
  it.each(Object.keys(TRANSITIONS))('%s', async (zone) => {
    const { day, before, after } = nextTransition(zone);
    const user = await userWith(zone);
    const dayBefore = addDays(day, -1);
    const daily = await createRecurring(user, {
      title: 'Daily at 09:00',
      deadline: `${dayBefore}T09:00:00${before}`,
      recurrence: { rule: 'FREQ=DAILY' },
      reminders: [{ local: { daysBefore: 1, at: '18:00' } }, { local: { daysBefore: 0, minutesBefore: 30 } }],
    });
    expect(daily.deadline).toBe(iso(`${dayBefore}T09:00:00${before}`));
    expect(daily.recurrence).toMatchObject({ rule: 'FREQ=DAILY', timeZone: zone, start: `${dayBefore}T09:00:00`, occurrence: 1, status: 'ACTIVE' });
    expect(daily.recurrence?.nextOccurrences).toEqual([
      iso(`${day}T09:00:00${after}`),
      iso(`${addDays(day, 1)}T09:00:00${after}`),
      iso(`${addDays(day, 2)}T09:00:00${after}`),
    ]);
    expect(daily.reminders.map((r) => [r.kind, r.triggerAt])).toEqual([
      ['LOCAL', iso(`${addDays(day, -2)}T18:00:00${before}`)],
      ['LOCAL', iso(`${dayBefore}T08:30:00${before}`)],
    ]);

    // Completing occurrence 1 creates occurrence 2 on the other side of the change, reminders recomputed.
    const completed = await run(server, user, CompleteRecurringTask, { id: daily.id });
    expect(completed.completeTask.__typename).toBe('CompleteTaskSuccess');
    const rows = await seriesRows(daily.id);
    expect(rows.map((row) => [row.occurrence, row.status])).toEqual([[1, 'COMPLETED'], [2, 'ACTIVE']]);
    const second = await getTask(user, taskGlobalId(rows[1]?.id ?? ''));
    expect(second.deadline).toBe(iso(`${day}T09:00:00${after}`));
    expect(second.recurrence).toMatchObject({ occurrence: 2, latestOccurrence: 2 });
    expect(second.reminders.map((r) => [r.kind, r.triggerAt, r.status])).toEqual([
      ['LOCAL', iso(`${dayBefore}T18:00:00${before}`), 'PENDING'],
      ['LOCAL', iso(`${day}T08:30:00${after}`), 'PENDING'],
    ]);

    const weekly = await createRecurring(user, {
      title: 'Weekly at 09:00',
      deadline: `${addDays(day, -7)}T09:00:00${before}`,
      recurrence: { rule: 'FREQ=WEEKLY' },
    });
    expect(weekly.recurrence?.nextOccurrences).toEqual([
      iso(`${day}T09:00:00${after}`),
      iso(`${addDays(day, 7)}T09:00:00${after}`),
      iso(`${addDays(day, 14)}T09:00:00${after}`),
    ]);
  });
});

describe('completions', () => {
  it('two (and five) concurrent completions of one occurrence create exactly one next occurrence', async () => {
    const user = await userWith('Asia/Kolkata');
    for (const racers of [2, 5]) {
      const task = await createRecurring(user, { title: `Race ${racers}`, deadline: `${addDays(todayUtc(), 3)}T09:00:00+05:30`, recurrence: { rule: 'FREQ=DAILY' } });
      const results = await Promise.all(Array.from({ length: racers }, () => run(server, user, CompleteRecurringTask, { id: task.id })));
      expect(results.map((result) => result.completeTask.__typename)).toEqual(Array(racers).fill('CompleteTaskSuccess'));
      const rows = await seriesRows(task.id);
      expect(rows.map((row) => [row.occurrence, row.status, row.last_occurrence])).toEqual([[1, 'COMPLETED', 2], [2, 'ACTIVE', 2]]);
    }
  });

  it('COUNT ends the series: completing the last occurrence creates none and marks it ENDED', async () => {
    const user = await userWith('Asia/Kolkata');
    const task = await createRecurring(user, { title: 'Twice', deadline: `${addDays(todayUtc(), 3)}T09:00:00+05:30`, recurrence: { rule: 'FREQ=DAILY;COUNT=2' } });
    expect(task.recurrence?.nextOccurrences).toEqual([iso(`${addDays(todayUtc(), 4)}T09:00:00+05:30`)]);
    await run(server, user, CompleteRecurringTask, { id: task.id });
    const second = (await seriesRows(task.id))[1];
    await run(server, user, CompleteRecurringTask, { id: taskGlobalId(second?.id ?? '') });
    const rows = await seriesRows(task.id);
    expect(rows.map((row) => [row.occurrence, row.status, row.series_status])).toEqual([[1, 'COMPLETED', 'ENDED'], [2, 'COMPLETED', 'ENDED']]);
  });

  it('cancelling an occurrence ends the series', async () => {
    const user = await userWith('Asia/Kolkata');
    const task = await createRecurring(user, { title: 'Cancel me', deadline: `${addDays(todayUtc(), 3)}T09:00:00+05:30`, recurrence: { rule: 'FREQ=WEEKLY' } });
    const cancelled = await run(server, user, CancelRecurringTask, { id: task.id });
    if (cancelled.cancelTask.__typename !== 'CancelTaskSuccess') throw new Error('cancel failed');
    expect(cancelled.cancelTask.task.recurrence).toMatchObject({ status: 'CANCELED', nextOccurrences: [] });
    expect((await seriesRows(task.id)).map((row) => [row.occurrence, row.status])).toEqual([[1, 'CANCELED']]);
  });
});

describe('deleting an occurrence', () => {
  it('ends the series like cancelling: no next occurrence is ever made, the other occurrences stay', async () => {
    const user = await userWith('Asia/Kolkata');
    const task = await createRecurring(user, { title: 'Delete me', deadline: `${addDays(todayUtc(), 3)}T09:00:00+05:30`, recurrence: { rule: 'FREQ=DAILY' } });
    await run(server, user, CompleteRecurringTask, { id: task.id });
    const second = (await seriesRows(task.id))[1];
    const deleted = await run(server, user, DeleteTask, { id: taskGlobalId(second?.id ?? '') });
    expect(deleted.deleteTask.__typename).toBe('DeleteTaskPayload');
    expect((await seriesRows(task.id)).map((row) => [row.occurrence, row.status, row.series_status])).toEqual([[1, 'COMPLETED', 'CANCELED']]);
  });
});

describe('a moved deadline of a recurring task', () => {
  it('moves that occurrence and its local reminders only; the series stays on its rule', async () => {
    const user = await userWith('Asia/Kolkata');
    const d = addDays(todayUtc(), 3);
    const task = await createRecurring(user, {
      title: 'Standup',
      deadline: `${d}T09:00:00+05:30`,
      recurrence: { rule: 'FREQ=DAILY' },
      reminders: [{ local: { daysBefore: 0, at: '08:00' } }, { secondsBeforeDeadline: 1800 }],
    });
    const moved = await run(server, user, MoveRecurringTask, { id: task.id, deadline: `${addDays(d, 1)}T11:00:00+05:30` });
    if (moved.updateTask.__typename !== 'UpdateTaskSuccess') throw new Error(JSON.stringify(moved.updateTask));
    expect(moved.updateTask.task.reminders.map((r) => [r.kind, r.triggerAt])).toEqual([
      ['LOCAL', iso(`${addDays(d, 1)}T08:00:00+05:30`)],
      ['RELATIVE', iso(`${addDays(d, 1)}T10:30:00+05:30`)],
    ]);
    expect(moved.updateTask.task.recurrence?.nextOccurrences).toEqual([
      iso(`${addDays(d, 1)}T09:00:00+05:30`),
      iso(`${addDays(d, 2)}T09:00:00+05:30`),
      iso(`${addDays(d, 3)}T09:00:00+05:30`),
    ]);
    await run(server, user, CompleteRecurringTask, { id: task.id });
    const second = await getTask(user, taskGlobalId((await seriesRows(task.id))[1]?.id ?? ''));
    expect([second.deadline, ...second.reminders.map((r) => r.triggerAt)]).toEqual([
      iso(`${addDays(d, 1)}T09:00:00+05:30`),
      iso(`${addDays(d, 1)}T08:00:00+05:30`),
      iso(`${addDays(d, 1)}T08:30:00+05:30`),
    ]);
  });

  it('refuses a move that would put a local reminder in the past, naming it, and changes nothing', async () => {
    const user = await userWith('Asia/Kolkata');
    const d = addDays(todayUtc(), 3);
    const task = await createRecurring(user, { title: 'Far', deadline: `${addDays(d, 5)}T09:00:00+05:30`, reminders: [{ local: { daysBefore: 3, at: '00:00' } }] });
    const result = await run(server, user, MoveRecurringTask, { id: task.id, deadline: `${d}T09:00:00+05:30` });
    expect(result.updateTask).toMatchObject({ __typename: 'ScheduleError', code: 'TRIGGER_IN_PAST', field: 'deadline', reminderId: task.reminders[0]?.id });
    const after = await getTask(user, task.id);
    expect([after.deadline, after.reminders[0]?.triggerAt]).toEqual([task.deadline, task.reminders[0]?.triggerAt]);
  });
});

describe('snooze', () => {
  /** A task with one reminder recorded as fired, as the dispatcher leaves it (status SENT, fired_at). */
  async function firedReminder(user: TestUser, deadlineInSeconds: number) {
    const task = await createRecurring(user, {
      title: 'Snooze me',
      deadline: new Date(Date.now() + deadlineInSeconds * 1000).toISOString(),
      reminders: [{ secondsBeforeDeadline: deadlineInSeconds - 60 }],
    });
    const reminderId = task.reminders[0]?.id ?? '';
    await withPgClient((client) =>
      client.query(`UPDATE reminders SET status = 'SENT', fired_at = now() WHERE id = $1`, [databaseId(reminderId)]),
    );
    return { task, reminderId };
  }

  it('concurrent snoozes of one fired reminder arm exactly one firing; the others get ALREADY_SNOOZED', async () => {
    const user = await userWith();
    const { reminderId } = await firedReminder(user, 7200);
    const results = await Promise.all(
      [600, 900, 1200, 1500, 1800].map((seconds) => run(server, user, SnoozeReminder, { id: reminderId, seconds })),
    );
    const kinds = results.map((result) => result.snoozeReminder.__typename).sort();
    expect(kinds).toEqual(['SnoozeError', 'SnoozeError', 'SnoozeError', 'SnoozeError', 'SnoozeReminderSuccess']);
    const winner = results.find((result) => result.snoozeReminder.__typename === 'SnoozeReminderSuccess')?.snoozeReminder;
    for (const result of results) {
      if (result.snoozeReminder.__typename === 'SnoozeError') {
        expect(result.snoozeReminder).toMatchObject({ code: 'ALREADY_SNOOZED', snoozeId: winner && 'reminder' in winner ? winner.reminder.id : 'missing' });
      }
    }
    const rows = await withPgClient((client) => client.query('SELECT count(*)::int AS n FROM reminders WHERE snoozed_from_id = $1', [databaseId(reminderId)]));
    expect(rows.rows[0]).toEqual({ n: 1 });
  });

  it('repeating the same snooze returns the same firing; the snooze is an absolute pending reminder', async () => {
    const user = await userWith();
    const { reminderId } = await firedReminder(user, 7200);
    const until = new Date(Date.now() + 1800_000).toISOString();
    const first = await run(server, user, SnoozeReminder, { id: reminderId, until });
    const again = await run(server, user, SnoozeReminder, { id: reminderId, until });
    expect(first.snoozeReminder).toEqual(again.snoozeReminder);
    expect(first.snoozeReminder).toMatchObject({ __typename: 'SnoozeReminderSuccess', reminder: { triggerAt: until, status: 'PENDING', kind: 'ABSOLUTE', snoozedFrom: { id: reminderId } } });
  });

  it('is checked against the deadline and the reminder state (both sides of each boundary)', async () => {
    const user = await userWith();
    const { task, reminderId } = await firedReminder(user, 7200);
    const deadlineMs = new Date(task.deadline).getTime();
    const after = await run(server, user, SnoozeReminder, { id: reminderId, until: new Date(deadlineMs + 1000).toISOString() });
    expect(after.snoozeReminder).toMatchObject({ __typename: 'ScheduleError', code: 'TRIGGER_AFTER_DEADLINE', field: 'until' });
    const neither = await run(server, user, SnoozeReminder, { id: reminderId });
    expect(neither.snoozeReminder).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    const zero = await run(server, user, SnoozeReminder, { id: reminderId, seconds: 0 });
    expect(zero.snoozeReminder).toMatchObject({ __typename: 'ValidationError', field: 'seconds' });
    const atDeadline = await run(server, user, SnoozeReminder, { id: reminderId, until: task.deadline });
    expect(atDeadline.snoozeReminder).toMatchObject({ __typename: 'SnoozeReminderSuccess', reminder: { triggerAt: task.deadline } });
    // The snooze itself has not fired, so it cannot be snoozed yet.
    const snoozeId = atDeadline.snoozeReminder.__typename === 'SnoozeReminderSuccess' ? atDeadline.snoozeReminder.reminder.id : '';
    const early = await run(server, user, SnoozeReminder, { id: snoozeId, seconds: 60 });
    expect(early.snoozeReminder).toMatchObject({ __typename: 'SnoozeError', code: 'REMINDER_NOT_FIRED' });
    // Another user's reminder does not exist for this one.
    const stranger = await execute(server, (await userWith()).token, SnoozeReminder, { id: reminderId, seconds: 60 });
    expect(stranger.data?.snoozeReminder).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});
