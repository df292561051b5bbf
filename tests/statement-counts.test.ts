/**
 * SQL statements per mutation (issue 10), counted where they leave for PostgreSQL: every query the
 * server's pg connections send (Prisma's adapter runs on a pg.Pool of ours whose connections record
 * each statement, BEGIN and COMMIT included; Prisma's own `query` log event misses BEGIN), on a
 * real server over HTTP:
 *
 * 1. createTask with 3 reminders, selecting the task and its reminders, sends exactly 4 statements
 *    (BEGIN, the clock, one INSERT of the task and its reminders, COMMIT), with a quota and without;
 *    what it answers equals what the database holds.
 * 2. A selection the insert cannot answer (each reminder's task) is still answered right, read in
 *    the same transaction: one statement more per relation load, never a wrong or missing field.
 *    A selection of only `__typename` (Pothos asks for an empty `select`) is answered by the insert.
 * 3. The quota still counts: at 2 active tasks the third create answers TooManyTasksError and writes
 *    nothing.
 * 4. Zones cost no statement: a task in the viewer's zone (read with the clock) or in its own, with a
 *    local reminder reckoned in that zone, is still 4 statements; a recurring task adds its series
 *    row and the dispatcher's wake-up (6).
 * 5. The nested read `tasks(first: 50) { … reminders { id triggerAt } }` is ONE statement (the page
 *    with each task's reminders aggregated by PostgreSQL), answers what the database holds, earliest
 *    reminder first, and only the viewer's tasks; a selection that statement does not load (each
 *    reminder's `task`) is read through Prisma and still answers right; fragments are followed.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth/tokens.js';
import type { LimitsConfig } from '../src/config.js';
import { withSqlPool } from '../src/db/client.js';
import { PgListener } from '../src/db/listener.js';
import { readMigrations } from '../src/db/migrate.js';
import { EventHub } from '../src/events/hub.js';
import { PrismaClient } from '../src/generated/prisma/client.js';
import { createTicklerServer } from '../src/server/app.js';
import { testDatabaseUrl, withPgClient } from './helpers/database.js';
import { TEST_JWT_SECRET, inSeconds, newUser, type TestUser } from './helpers/server.js';

interface CountingServer {
  url: string;
  /** Every statement the server's database client sent since start, in order. */
  statements: string[];
  stop(): Promise<void>;
}

async function startCountingServer(limits: Partial<LimitsConfig>): Promise<CountingServer> {
  const databaseUrl = testDatabaseUrl();
  const statements: string[] = [];
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('connect', (client) => {
    client.query = new Proxy(client.query, {
      apply(target, self, args: unknown[]) {
        const [first] = args;
        const text = typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : String(first);
        statements.push(text.replace(/\s+/g, ' ').trim());
        return Reflect.apply(target, self, args) as unknown;
      },
    });
  });
  // As createPrismaClient does: the `tasks` page is read on this pool directly (src/graphql/task-page.ts).
  const db = withSqlPool(new PrismaClient({ adapter: new PrismaPg(pool) }), pool);
  const listener = new PgListener(databaseUrl);
  const events = new EventHub(db, listener);
  await events.start();
  const server = createTicklerServer({
    db,
    events,
    webhookPolicy: { allowPrivate: false, allowLoopback: true },
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined }),
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: false,
    limits,
  });
  const address = await server.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${address.port}/graphql`,
    statements,
    stop: async () => {
      await server.close(1000);
      await events.stop();
      await listener.close();
      await db.$disconnect();
      await pool.end();
    },
  };
}

interface Reminder {
  id: string;
  triggerAt: string;
  kind: string;
  secondsBeforeDeadline: number | null;
  status: string;
  task?: { id: string; title: string };
}

interface CreateTaskAnswer {
  createTask: { __typename: string; code?: string; task?: { id: string; title: string; deadline: string; status: string; reminders: Reminder[] } };
}

async function post<T>(url: string, user: TestUser, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  expect(body.errors).toBeUndefined();
  expect(response.status).toBe(200);
  if (!body.data) throw new Error('no data');
  return body.data;
}

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess { task { id title deadline status reminders { id triggerAt kind secondsBeforeDeadline status } } }
      ... on Error { code }
    }
  }
`;

const CREATE_WITH_REMINDER_TASKS = /* GraphQL */ `
  mutation CreateDeep($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess { task { id title deadline status reminders { id triggerAt kind secondsBeforeDeadline status task { id title } } } }
      ... on Error { code }
    }
  }
`;

function threeReminders(title: string) {
  const deadline = inSeconds(7 * 24 * 3600);
  return {
    input: {
      title,
      deadline,
      // Out of order on purpose: the answer lists them earliest first.
      reminders: [{ secondsBeforeDeadline: 7200 }, { at: inSeconds(3600) }, { secondsBeforeDeadline: 86_400 }],
    },
  };
}

/** The database id in a Relay global id ("Task:<uuid>", base64). */
function databaseId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString('utf8').split(':')[1] ?? '';
}

/** The task's reminders as the database holds them (ids as the API shows them), earliest first. */
async function storedReminders(taskGlobalId: string): Promise<Array<{ id: string; triggerAt: string; secondsBeforeDeadline: number | null; status: string }>> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ id: string; trigger_at: Date; offset_seconds: number | null; status: string }>(
      'SELECT id, trigger_at, offset_seconds, status FROM reminders WHERE task_id = $1 ORDER BY trigger_at, id',
      [databaseId(taskGlobalId)],
    );
    return rows.map((row) => ({ id: Buffer.from(`Reminder:${row.id}`).toString('base64'), triggerAt: row.trigger_at.toISOString(), secondsBeforeDeadline: row.offset_seconds, status: row.status }));
  });
}

/** Statements sent while `work` ran. The user's first request (creating the user) is done before. */
async function statementsDuring(server: CountingServer, work: () => Promise<unknown>): Promise<string[]> {
  const before = server.statements.length;
  await work();
  return server.statements.slice(before);
}

describe.each([
  { label: 'with a quota of active tasks (the default policy)', limits: { maxActiveTasksPerUser: 1000, mutationsPerMinute: 0 } },
  { label: 'without a quota', limits: { maxActiveTasksPerUser: 0, mutationsPerMinute: 0 } },
])('createTask $label', ({ limits }) => {
  let server: CountingServer;
  beforeAll(async () => {
    server = await startCountingServer(limits);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('creates a task with 3 reminders in 4 statements and answers what was stored', async () => {
    const user = await newUser('statements');
    // The first request of a user creates its row; the count is about the mutation itself.
    await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('warm-up'));
    let answer: CreateTaskAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('counted'));
    });
    expect(sent, sent.join('\n')).toHaveLength(4);
    expect(sent[0]).toBe('BEGIN');
    expect(sent[2]).toMatch(/^WITH active AS .*INSERT INTO tasks .*INSERT INTO reminders/);
    expect(sent[3]).toBe('COMMIT');

    const task = answer?.createTask.task;
    expect(answer?.createTask.__typename).toBe('CreateTaskSuccess');
    expect(task?.title).toBe('counted');
    expect(task?.status).toBe('ACTIVE');
    const stored = await storedReminders(task?.id ?? '');
    expect(stored).toHaveLength(3);
    expect(task?.reminders.map(({ id, triggerAt, secondsBeforeDeadline, status }) => ({ id, triggerAt, secondsBeforeDeadline, status }))).toEqual(stored);
    expect(task?.reminders.map((reminder) => reminder.kind)).toEqual(['ABSOLUTE', 'RELATIVE', 'RELATIVE']);
  });

  it('answers a selection beyond the insert (each reminder\'s task) from a read in the same transaction', async () => {
    const user = await newUser('statements-deep');
    await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('warm-up'));
    let answer: CreateTaskAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<CreateTaskAnswer>(server.url, user, CREATE_WITH_REMINDER_TASKS, threeReminders('deep'));
    });
    const task = answer?.createTask.task;
    expect(task?.reminders).toHaveLength(3);
    expect(task?.reminders.map((reminder) => reminder.task)).toEqual([1, 2, 3].map(() => ({ id: task?.id, title: 'deep' })));
    expect(task?.reminders.map(({ id, triggerAt, secondsBeforeDeadline, status }) => ({ id, triggerAt, secondsBeforeDeadline, status }))).toEqual(
      await storedReminders(task?.id ?? ''),
    );
    // Read before COMMIT, in the transaction; nothing after it.
    expect(sent[sent.length - 1]).toBe('COMMIT');
    expect(sent.length).toBeGreaterThan(4);
  });

  it('answers a selection of nothing but __typename from the insert too, in 4 statements', async () => {
    const user = await newUser('statements-typename');
    await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('warm-up'));
    let answer: { createTask: { __typename: string } } | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post(server.url, user, 'mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename } }', threeReminders('bare'));
    });
    expect(answer).toEqual({ createTask: { __typename: 'CreateTaskSuccess' } });
    expect(sent, sent.join('\n')).toHaveLength(4);
  });
});

describe('createTask under a quota of 2 active tasks', () => {
  let server: CountingServer;
  beforeAll(async () => {
    server = await startCountingServer({ maxActiveTasksPerUser: 2, mutationsPerMinute: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('lands the 2nd task and refuses the 3rd, in 4 statements, writing nothing', async () => {
    const user = await newUser('statements-quota');
    const first = await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('one'));
    expect(first.createTask.__typename).toBe('CreateTaskSuccess');
    const second = await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('two'));
    expect(second.createTask.__typename).toBe('CreateTaskSuccess');
    let third: CreateTaskAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      third = await post<CreateTaskAnswer>(server.url, user, CREATE, threeReminders('three'));
    });
    expect(third?.createTask).toEqual({ __typename: 'TooManyTasksError', code: 'TOO_MANY_TASKS' });
    expect(sent, sent.join('\n')).toHaveLength(4);
    expect(sent[3]).toBe('ROLLBACK');
    const titles = await withPgClient(async (client) => {
      const { rows } = await client.query<{ title: string }>('SELECT t.title FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1 ORDER BY t.title', [user.subject]);
      return rows.map((row) => row.title);
    });
    expect(titles).toEqual(['one', 'two']);
  });
});

const CREATE_ZONED = /* GraphQL */ `
  mutation CreateZoned($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess { task { id timeZone deadline reminders { triggerAt kind local { daysBefore at minutesBefore } } } }
      ... on Error { code }
    }
  }
`;

interface ZonedAnswer {
  createTask: {
    __typename: string;
    task?: { id: string; timeZone: string; deadline: string; reminders: Array<{ triggerAt: string; kind: string; local: { daysBefore: number; at: string | null; minutesBefore: number } | null }> };
  };
}

describe('createTask in a zone', () => {
  let server: CountingServer;
  beforeAll(async () => {
    server = await startCountingServer({ maxActiveTasksPerUser: 1000, mutationsPerMinute: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Asia/Kolkata is UTC+05:30 all year: a week ahead at 12:00Z is 17:30 there, and "1 day before
  // at 09:00" local is 03:30Z the day before, whatever the date.
  const deadline = new Date();
  deadline.setUTCDate(deadline.getUTCDate() + 7);
  deadline.setUTCHours(12, 0, 0, 0);
  const dayBeforeAt0330Z = new Date(Date.UTC(deadline.getUTCFullYear(), deadline.getUTCMonth(), deadline.getUTCDate() - 1, 3, 30)).toISOString();
  const zonedInput = (title: string, extra: Record<string, unknown> = {}) => ({
    input: {
      title,
      deadline: deadline.toISOString(),
      reminders: [{ local: { daysBefore: 1, at: '09:00' } }, { secondsBeforeDeadline: 600 }, { at: inSeconds(3600) }],
      ...extra,
    },
  });

  async function created(user: TestUser, input: Record<string, unknown>): Promise<{ sent: string[]; task: NonNullable<ZonedAnswer['createTask']['task']> }> {
    await post<ZonedAnswer>(server.url, user, CREATE_ZONED, zonedInput('warm-up'));
    let answer: ZonedAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<ZonedAnswer>(server.url, user, CREATE_ZONED, input);
    });
    expect(answer?.createTask.__typename).toBe('CreateTaskSuccess');
    const task = answer?.createTask.task;
    if (!task) throw new Error('no task');
    return { sent, task };
  }

  async function storedTask(taskGlobalId: string): Promise<{ timeZone: string; local: Array<{ trigger_at: Date; local_days_before: number; local_time_minute: number | null; local_minutes_before: number }> }> {
    return withPgClient(async (client) => {
      const task = await client.query<{ time_zone: string }>('SELECT time_zone FROM tasks WHERE id = $1', [databaseId(taskGlobalId)]);
      const local = await client.query<{ trigger_at: Date; local_days_before: number; local_time_minute: number | null; local_minutes_before: number }>(
        'SELECT trigger_at, local_days_before, local_time_minute, local_minutes_before FROM reminders WHERE task_id = $1 AND local_days_before IS NOT NULL',
        [databaseId(taskGlobalId)],
      );
      return { timeZone: task.rows[0]?.time_zone ?? '', local: local.rows };
    });
  }

  it("takes the viewer's zone, read with the clock, in 4 statements", async () => {
    const user = await newUser('statements-zone');
    const zoned = await post<{ setTimeZone: { __typename: string } }>(server.url, user, 'mutation { setTimeZone(timeZone: "Asia/Kolkata") { __typename ... on SetTimeZoneSuccess { viewer { timeZone } } } }', {});
    expect(zoned.setTimeZone.__typename).toBe('SetTimeZoneSuccess');
    const { sent, task } = await created(user, zonedInput('viewer zone'));
    expect(sent, sent.join('\n')).toHaveLength(4);
    expect(sent[1]).toMatch(/time_zone/);
    expect(task.timeZone).toBe('Asia/Kolkata');
    const local = task.reminders.find((reminder) => reminder.kind === 'LOCAL');
    expect(local).toEqual({ triggerAt: dayBeforeAt0330Z, kind: 'LOCAL', local: { daysBefore: 1, at: '09:00', minutesBefore: 0 } });
    expect(await storedTask(task.id)).toEqual({
      timeZone: 'Asia/Kolkata',
      local: [{ trigger_at: new Date(dayBeforeAt0330Z), local_days_before: 1, local_time_minute: 540, local_minutes_before: 0 }],
    });
  });

  it('takes its own zone over the viewer\'s (UTC), in 4 statements', async () => {
    const user = await newUser('statements-own-zone');
    const { sent, task } = await created(user, zonedInput('own zone', { timeZone: 'Asia/Kolkata' }));
    expect(sent, sent.join('\n')).toHaveLength(4);
    expect(task.timeZone).toBe('Asia/Kolkata');
    expect(task.reminders.find((reminder) => reminder.kind === 'LOCAL')?.triggerAt).toBe(dayBeforeAt0330Z);
    expect((await storedTask(task.id)).timeZone).toBe('Asia/Kolkata');
    // The same input without a zone is reckoned in the viewer's UTC: 09:00Z the day before.
    const { task: utc } = await created(user, zonedInput('viewer utc'));
    expect(utc.timeZone).toBe('UTC');
    expect(utc.reminders.find((reminder) => reminder.kind === 'LOCAL')?.triggerAt).toBe(new Date(new Date(dayBeforeAt0330Z).getTime() + 5.5 * 3600_000).toISOString());
  });

  it('creates a recurring task with its series in 6 statements', async () => {
    const user = await newUser('statements-series');
    const { sent, task } = await created(user, zonedInput('daily', { timeZone: 'Asia/Kolkata', recurrence: { rule: 'FREQ=DAILY;COUNT=3' } }));
    expect(sent, sent.join('\n')).toHaveLength(6);
    expect(sent.filter((statement) => /^INSERT INTO "public"."task_series"|task_series/.test(statement))).toHaveLength(1);
    expect(task.timeZone).toBe('Asia/Kolkata');
    expect(task.deadline).toBe(deadline.toISOString());
    const series = await withPgClient(async (client) =>
      (await client.query<{ occurrence: number; time_zone: string }>('SELECT t.occurrence, s.time_zone FROM tasks t JOIN task_series s ON s.id = t.series_id WHERE t.id = $1', [databaseId(task.id)])).rows,
    );
    expect(series).toEqual([{ occurrence: 1, time_zone: 'Asia/Kolkata' }]);
  });
});

describe('the nested read of tasks with their reminders', () => {
  let server: CountingServer;
  beforeAll(async () => {
    server = await startCountingServer({ mutationsPerMinute: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const READ = 'query { tasks(first: 50) { edges { node { id title deadline reminders { id triggerAt } } } } }';
  const READ_WITH_REMINDER_TASKS = 'query { tasks(first: 50) { edges { node { id title reminders { id triggerAt task { id title } } } } } }';
  interface ReadAnswer {
    tasks: { edges: Array<{ node: { id: string; title: string; deadline?: string; reminders: Array<{ id: string; triggerAt: string; task?: { id: string; title: string } }> } }> };
  }

  /** Creates `titles` as tasks of `user`, deadlines one hour apart, the first created the latest; their global ids. */
  async function createTasks(user: TestUser, titles: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [index, title] of titles.entries()) {
      const input = { input: { ...threeReminders(title).input, deadline: inSeconds(7 * 24 * 3600 + (titles.length - index) * 3600) } };
      const answer = await post<CreateTaskAnswer>(server.url, user, CREATE, input);
      ids.push(answer.createTask.task?.id ?? '');
    }
    return ids;
  }

  it('reads the page and every task\'s reminders in 1 statement, earliest reminder first, own tasks only', async () => {
    const user = await newUser('statements-read');
    const other = await newUser('statements-read-other');
    // Created latest deadline first on purpose; the answer lists them earliest deadline first.
    const [late, early] = await createTasks(user, ['later', 'earlier']);
    await createTasks(other, ['not yours']);
    // The first request of a user creates its row; the count is about the read itself.
    await post(server.url, user, READ, {});
    let answer: ReadAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<ReadAnswer>(server.url, user, READ, {});
    });
    expect(sent, sent.join('\n')).toHaveLength(1);
    expect(sent[0]).toMatch(/^SELECT .*json_agg/);
    const nodes = answer?.tasks.edges.map((edge) => edge.node) ?? [];
    expect(nodes.map((node) => [node.id, node.title])).toEqual([
      [early, 'earlier'],
      [late, 'later'],
    ]);
    for (const node of nodes) {
      expect(node.reminders).toEqual((await storedReminders(node.id)).map(({ id, triggerAt }) => ({ id, triggerAt })));
    }
    expect(nodes[0]?.deadline).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('follows fragments (named, inline, on Node) and __typename: the same answer, still 1 statement', async () => {
    const user = await newUser('statements-read-fragments');
    await createTasks(user, ['second', 'first']);
    const plain = await post<ReadAnswer>(server.url, user, READ, {});
    const fragments =
      'query { tasks(first: 50) { edges { node { __typename ... on Node { id } ...TaskParts } } } } ' +
      'fragment TaskParts on Task { title deadline reminders { ... on Reminder { id } triggerAt } }';
    let answer: ReadAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<ReadAnswer>(server.url, user, fragments, {});
    });
    expect(sent, sent.join('\n')).toHaveLength(1);
    expect(answer?.tasks.edges.map(({ node }) => ({ ...node, __typename: undefined }))).toEqual(plain.tasks.edges.map(({ node }) => ({ ...node, __typename: undefined })));
    expect(answer?.tasks.edges.map(({ node }) => (node as { __typename?: string }).__typename)).toEqual(['Task', 'Task']);
  });

  it('answers a selection beyond that statement (each reminder\'s task) through Prisma, the same reminders', async () => {
    const user = await newUser('statements-read-deep');
    const [id] = await createTasks(user, ['deep read']);
    await post(server.url, user, READ_WITH_REMINDER_TASKS, {});
    let answer: ReadAnswer | undefined;
    const sent = await statementsDuring(server, async () => {
      answer = await post<ReadAnswer>(server.url, user, READ_WITH_REMINDER_TASKS, {});
    });
    const node = answer?.tasks.edges[0]?.node;
    expect(node?.reminders.map(({ id: reminderId, triggerAt }) => ({ id: reminderId, triggerAt }))).toEqual(
      (await storedReminders(id ?? '')).map(({ id: reminderId, triggerAt }) => ({ id: reminderId, triggerAt })),
    );
    expect(node?.reminders.map((reminder) => reminder.task)).toEqual([1, 2, 3].map(() => ({ id, title: 'deep read' })));
    expect(sent.some((statement) => statement.includes('json_agg'))).toBe(false);
  });
});
