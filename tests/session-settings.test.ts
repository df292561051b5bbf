/**
 * Timestamps do not depend on session or process settings (found by a red-team pass on the
 * one-statement `tasks` read, issue 10):
 *
 * 1. A database whose default TimeZone is not UTC (and whose DateStyle is not ISO): every timestamp
 *    reads back as stored, through the one-statement page read and through Prisma alike. Prisma's
 *    adapter read timestamptz text without its offset, 5 h early under America/New_York.
 * 2. A Node process whose TZ had an offset with seconds at the instant (Europe/Amsterdam in year 1,
 *    local mean time +00:17:30): a filter bound reaches PostgreSQL as the same instant. pg writes a
 *    Date in local time with a whole-minute offset, which moved the bound by 30 s.
 * 3. A fired reminder's webhook body gives its times as the API does (RFC 3339, UTC, milliseconds,
 *    Z). The fire statement writes timestamptz values into jsonb as they are, in its session's zone
 *    (UTC, which src/db/client.ts sets on every pool: `+00:00`, not the database's -05:00), and the
 *    readers normalize (src/events/payload.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, sqlPoolOf } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { WebhookNotifier } from '../src/notifiers/webhook.js';
import { createScratchDatabase, testDatabaseUrl, withPgClient } from './helpers/database.js';
import { CreateTask } from './helpers/operations.js';
import { inSeconds, newUser, run, startInstance, type Instance, type TestUser } from './helpers/server.js';
import { eventually, FAST_DISPATCHER, startDispatcher, startWebhookSink } from './helpers/sinks.js';

let scratch: { url: string; drop: () => Promise<void> };
let instance: Instance;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  await migrate(scratch.url);
  const name = new URL(scratch.url).pathname.slice(1);
  await withPgClient(async (client) => {
    await client.query(`ALTER DATABASE "${name}" SET timezone = 'America/New_York'`);
    await client.query(`ALTER DATABASE "${name}" SET datestyle = 'SQL, DMY'`);
  });
  instance = await startInstance(scratch.url);
});

afterAll(async () => {
  await instance?.stop();
  await scratch?.drop();
});

interface Page {
  tasks: { edges: Array<{ node: { id: string; title: string; deadline: string; reminders: Array<{ triggerAt: string; task?: { id: string } }> } }> };
}

async function request<T>(user: TestUser, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(instance.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (body.errors !== undefined || body.data === undefined) throw new Error(JSON.stringify(body));
  return body.data;
}

const read = (user: TestUser, query: string, variables: Record<string, unknown> = {}) => request<Page>(user, query, variables);

/** The one-statement path (only fields it loads) and the Prisma path (a reminder's `task` is not one of them). */
const FAST = `query Fast($after: DateTime) { tasks(first: 50, filter: { deadlineAfter: $after }) { edges { node { id title deadline reminders { triggerAt } } } } }`;
const PRISMA = `query ViaPrisma($after: DateTime) { tasks(first: 50, filter: { deadlineAfter: $after }) { edges { node { id title deadline reminders { triggerAt task { id } } } } } }`;

describe('timestamps whatever the session and process settings', () => {
  it('reads back what was written in a database whose TimeZone is America/New_York and DateStyle SQL, DMY', async () => {
    const user = await newUser('zone');
    // Whole milliseconds, a month ahead: the API rounds to milliseconds and refuses the past.
    const deadline = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 24 * 3600 * 1000);
    const trigger = new Date(deadline.getTime() - 3600 * 1000);
    const created = await run(instance, user, CreateTask, {
      input: { title: 'zoned', deadline: deadline.toISOString(), reminders: [{ at: trigger.toISOString() }] },
    });
    expect(created.createTask).toMatchObject({
      __typename: 'CreateTaskSuccess',
      task: { deadline: deadline.toISOString(), reminders: [{ triggerAt: trigger.toISOString() }] },
    });
    for (const query of [FAST, PRISMA]) {
      const page = await read(user, query);
      expect(page.tasks.edges.map(({ node }) => [node.deadline, node.reminders.map((reminder) => reminder.triggerAt)]), query).toEqual([
        [deadline.toISOString(), [trigger.toISOString()]],
      ]);
    }
  });

  it('filters by the same instant when the process runs in a zone whose offset had seconds then', async () => {
    const user = await newUser('lmt');
    await read(user, FAST); // creates the user
    const earliest = '0001-01-01T00:00:00.000Z';
    await withPgClient(
      (client) =>
        client.query(
          `INSERT INTO tasks (owner_id, title, deadline, updated_at) SELECT id, 'year one', $2::timestamptz, now() FROM users WHERE subject = $1`,
          [user.subject, earliest],
        ),
      scratch.url,
    );
    const previousZone = process.env.TZ;
    process.env.TZ = 'Europe/Amsterdam';
    try {
      for (const query of [FAST, PRISMA]) {
        const page = await read(user, query, { after: earliest });
        expect(page.tasks.edges.map(({ node }) => [node.title, node.deadline]), query).toEqual([['year one', earliest]]);
      }
    } finally {
      if (previousZone === undefined) delete process.env.TZ;
      else process.env.TZ = previousZone;
    }
  });
});

describe('a reminder fired in a database whose TimeZone is America/New_York', () => {
  it('reaches its webhook with the times the API gives, in UTC with a Z', async () => {
    const sink = await startWebhookSink();
    const dispatcher = await startDispatcher(scratch.url, { ...FAST_DISPATCHER, notifiers: [new WebhookNotifier({ policy: { allowPrivate: false, allowLoopback: true } })] });
    try {
      const user = await newUser('zoned-fire');
      const url = sink.route('zoned');
      await request(user, `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename } }`, { input: { url } });
      const created = await run(instance, user, CreateTask, { input: { title: 'zoned fire', deadline: inSeconds(3600), reminders: [{ at: inSeconds(1) }] } });
      if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`setup failed: ${JSON.stringify(created.createTask)}`);
      const { task } = created.createTask;
      const [delivered] = await eventually('the webhook', () => (sink.requestsTo(url).length > 0 ? sink.requestsTo(url) : undefined), 15_000);
      const body = JSON.parse(delivered!.body) as { timestamp: string; data: { deadline: string; triggerAt: string; firedAt: string } };
      const stored = await withPgClient((client) => client.query<{ fired_at: string }>(`SELECT payload->>'firedAt' AS fired_at FROM events`), scratch.url);
      // The premise: the log holds jsonb's form of a timestamptz in the pool's zone, not the API's.
      expect(stored.rows[0]?.fired_at).toMatch(/\+00:00$/);
      const rfc3339Utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
      expect(body.data.deadline).toBe(task.deadline);
      expect(body.data.triggerAt).toBe(task.reminders[0]?.triggerAt);
      expect(body.data.firedAt).toMatch(rfc3339Utc);
      expect(new Date(body.data.firedAt).getTime()).toBe(new Date(stored.rows[0]!.fired_at).getTime());
      expect(body.timestamp).toBe(body.data.firedAt);
    } finally {
      await dispatcher.stop();
      await sink.close();
    }
  });
});

describe('an idle pooled connection the server ends', () => {
  // pg-pool re-emits an idle connection's error on the pool; unheard, it would throw and end the
  // process (vitest reports it as an unhandled error). Prisma's adapter listens only after its first
  // query, so this uses the raw pool first, as the one-statement page read can.
  it('is dropped from the pool without an uncaught error, and the pool serves again', async () => {
    const db = createPrismaClient(testDatabaseUrl(), { poolSize: 1, applicationName: 'tickler-idle-test' });
    try {
      const pool = sqlPoolOf(db)!;
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      expect(pool.idleCount).toBe(1);
      await withPgClient((client) => client.query('SELECT pg_terminate_backend($1)', [pid]));
      await eventually('the pool to drop the ended connection', () => (pool.totalCount === 0 ? true : undefined), 10_000, 10);
      const again = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(again.rows[0]!.pid).not.toBe(pid);
    } finally {
      await db.$disconnect();
    }
  });
});
