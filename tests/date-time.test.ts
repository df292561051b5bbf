/**
 * The strict DateTime scalar (issue 8, item 6): RFC 3339 `date-time` with seconds and an offset. A
 * date or time that does not exist is refused as invalid (VALIDATION, naming the input path) and
 * nothing is written; it is never moved to a neighbouring day. Years are computed from today, so no
 * date here expires. Fractions beyond milliseconds are truncated (PostgreSQL keeps timestamptz(3)).
 */
import { describe, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import { inSeconds, newUser, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

const YEAR = new Date().getUTCFullYear() + 2;
const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
let leapYear = YEAR;
while (!isLeap(leapYear)) leapYear += 1;
let commonYear = YEAR;
while (isLeap(commonYear)) commonYear += 1;

interface Answer {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

async function post(user: TestUser, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Answer['body'] };
}

async function tasksOf(user: TestUser): Promise<Array<{ deadline: string; title: string }>> {
  return withPgClient(async (client) => {
    const rows = await client.query<{ deadline: Date; title: string }>(
      'SELECT t.deadline, t.title FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1 ORDER BY t.deadline',
      [user.subject],
    );
    return rows.rows.map((row) => ({ deadline: row.deadline.toISOString(), title: row.title }));
  });
}

const CREATE = 'mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on CreateTaskSuccess { task { id deadline } } } }';

/** Inputs that name no instant, and the words the refusal must contain. */
const NOT_A_TIME: Array<[string, string, string]> = [
  ['February 30th', `${YEAR}-02-30T10:00:00Z`, 'does not exist'],
  ['April 31st', `${YEAR}-04-31T12:00:00Z`, 'does not exist'],
  ['February 29th of a common year', `${commonYear}-02-29T12:00:00Z`, 'does not exist'],
  ['month 13', `${YEAR}-13-01T12:00:00Z`, 'does not exist'],
  ['day 0', `${YEAR}-05-00T12:00:00Z`, 'does not exist'],
  ['hour 24', `${YEAR}-06-01T24:00:00Z`, 'RFC 3339'],
  ['minute 60', `${YEAR}-06-01T10:60:00Z`, 'RFC 3339'],
  ['a leap second', `${YEAR}-06-30T23:59:60Z`, 'RFC 3339'],
  ['no zone', `${YEAR}-06-01T10:00:00`, 'RFC 3339'],
  ['no seconds', `${YEAR}-06-01T10:00Z`, 'RFC 3339'],
  ['an offset of 24 hours', `${YEAR}-06-01T10:00:00+24:00`, 'RFC 3339'],
  ['a space for T', `${YEAR}-06-01 10:00:00Z`, 'RFC 3339'],
  ['a bracketed zone', `${YEAR}-06-01T10:00:00Z[Europe/Paris]`, 'RFC 3339'],
  ['ten fraction digits', `${YEAR}-06-01T10:00:00.1234567891Z`, 'RFC 3339'],
];

describe('dates and times that do not exist', () => {
  it.each(NOT_A_TIME)('%s (%s) is refused as a variable and as a literal; nothing is written', async (_label, value, words) => {
    const user = await newUser('dates');
    const asVariable = await post(user, CREATE, { input: { title: 'never', deadline: value } });
    expect(asVariable.body.data ?? null).toBeNull();
    expect(asVariable.body.errors).toHaveLength(1);
    expect(asVariable.body.errors?.[0]?.message).toContain('input.deadline');
    expect(asVariable.body.errors?.[0]?.message).toContain(words);
    expect(asVariable.body.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION' });
    expect(asVariable.text).not.toContain('Unexpected error');

    const asLiteral = await post(user, `mutation { createTask(input: { title: "never", deadline: ${JSON.stringify(value)} }) { __typename } }`);
    expect(asLiteral.body.data ?? null).toBeNull();
    expect(asLiteral.body.errors?.[0]?.message).toContain(words);
    expect(asLiteral.text).not.toContain('Unexpected error');
    expect(await tasksOf(user)).toEqual([]);
  });

  it('is refused in every DateTime argument: reminder `at`, updateTask deadline, the tasks filter', async () => {
    const user = await newUser('dates');
    const created = await post(user, CREATE, { input: { title: 'kept', deadline: `${YEAR}-03-01T10:00:00Z` } });
    const taskId = (created.body.data?.createTask as { task: { id: string } }).task.id;
    const before = await tasksOf(user);
    const answers = [
      await post(user, CREATE, { input: { title: 'r', deadline: `${YEAR}-03-01T10:00:00Z`, reminders: [{ at: `${YEAR}-02-30T10:00:00Z` }] } }),
      await post(user, 'mutation($id: ID!, $at: DateTime!) { addReminder(taskId: $id, reminder: { at: $at }) { __typename } }', { id: taskId, at: `${YEAR}-02-30T09:00:00Z` }),
      await post(user, 'mutation($id: ID!, $d: DateTime!) { updateTask(id: $id, input: { deadline: $d }) { __typename } }', { id: taskId, d: `${YEAR}-04-31T12:00:00Z` }),
      await post(user, 'query($d: DateTime!) { tasks(filter: { deadlineAfter: $d }) { edges { node { id } } } }', { d: `${YEAR}-02-30T00:00:00Z` }),
    ];
    for (const answer of answers) {
      expect(answer.body.data ?? null).toBeNull();
      expect(answer.body.errors?.[0]?.message).toContain('does not exist');
    }
    expect(await tasksOf(user)).toEqual(before);
  });
});

describe('the supported range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z', () => {
  const FILTER = 'query($d: DateTime!) { tasks(first: 1, filter: { deadlineAfter: $d }) { edges { cursor } } }';
  const BEFORE = 'query($d: DateTime!) { tasks(first: 1, filter: { deadlineBefore: $d }) { edges { cursor } } }';
  const outside = ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999Z', '0001-01-01T00:00:00+00:01', '0001-01-01T00:00:00+23:59', '0000-01-01T00:00:00+01:00', '9999-12-31T23:59:59-00:01'];

  it.each(outside)('refuses %s in filters (variables and literals) with VALIDATION, never an internal error', async (value) => {
    const user = await newUser('range');
    for (const answer of [
      await post(user, FILTER, { d: value }),
      await post(user, BEFORE, { d: value }),
      await post(user, `{ tasks(first: 1, filter: { deadlineBefore: "${value}" }) { edges { cursor } } }`),
    ]) {
      expect(answer.body.data ?? null).toBeNull();
      expect(answer.body.errors).toEqual([expect.objectContaining({ message: expect.stringContaining('is out of range'), extensions: expect.objectContaining({ code: 'VALIDATION' }) })]);
    }
    // A literal's refusal points at the literal.
    const literal = await post(user, `{ tasks(first: 1, filter: { deadlineBefore: "${value}" }) { edges { cursor } } }`);
    expect(literal.text).toContain('"locations"');
  });

  it('takes both ends of the range, in UTC and with offsets that stay inside it', async () => {
    const user = await newUser('range-ends');
    for (const value of ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00-23:59', '9999-12-31T23:59:59.999Z', '9999-12-31T00:00:00+23:59']) {
      expect((await post(user, FILTER, { d: value })).body).toEqual({ data: { tasks: { edges: [] } } });
      expect((await post(user, BEFORE, { d: value })).body.errors).toBeUndefined();
    }
  });
});

describe('the other side of each boundary', () => {
  it('takes the last real day of each month, February 29th of a leap year, 23:59:59, lowercase t and z, and offsets', async () => {
    const user = await newUser('dates');
    const accepted: Array<[string, string]> = [
      [`${YEAR}-04-30T12:00:00Z`, `${YEAR}-04-30T12:00:00.000Z`],
      [`${YEAR}-02-28T23:59:59Z`, `${YEAR}-02-28T23:59:59.000Z`],
      [`${leapYear}-02-29T12:00:00Z`, `${leapYear}-02-29T12:00:00.000Z`],
      [`${YEAR}-06-01t10:00:00z`, `${YEAR}-06-01T10:00:00.000Z`],
      [`${YEAR}-06-01T12:00:00+02:00`, `${YEAR}-06-01T10:00:00.000Z`],
      [`${YEAR}-06-01T00:30:00-23:59`, `${YEAR}-06-02T00:29:00.000Z`],
    ];
    for (const [input, stored] of accepted) {
      const answer = await post(user, CREATE, { input: { title: input, deadline: input } });
      expect(answer.body.data?.createTask, input).toMatchObject({ __typename: 'CreateTaskSuccess', task: { deadline: stored } });
    }
    expect((await tasksOf(user)).map((task) => task.deadline).sort()).toEqual(accepted.map(([, stored]) => stored).sort());
  });

  it('truncates fractions beyond the millisecond (never rounds into the next second)', async () => {
    const user = await newUser('dates');
    const cases: Array<[string, string]> = [
      [`${YEAR}-05-01T10:00:00.1239Z`, `${YEAR}-05-01T10:00:00.123Z`],
      [`${YEAR}-05-01T10:00:01.999999999Z`, `${YEAR}-05-01T10:00:01.999Z`],
      [`${YEAR}-05-01T10:00:02.5Z`, `${YEAR}-05-01T10:00:02.500Z`],
    ];
    for (const [input, stored] of cases) {
      const answer = await post(user, CREATE, { input: { title: input, deadline: input } });
      expect(answer.body.data?.createTask, input).toMatchObject({ task: { deadline: stored } });
    }
    expect((await tasksOf(user)).map((task) => task.deadline)).toEqual(cases.map(([, stored]) => stored));
  });

  it('a deadline relative to now still round-trips exactly (milliseconds kept)', async () => {
    const user = await newUser('dates');
    const deadline = inSeconds(3600);
    const answer = await post(user, CREATE, { input: { title: 'now+1h', deadline } });
    expect(answer.body.data?.createTask).toMatchObject({ task: { deadline } });
  });
});
