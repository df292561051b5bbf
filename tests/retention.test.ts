/**
 * Retention on a database of its own (its watermark must not cut the shared test database's event
 * log under other tests): rows are aged by rewriting their timestamps, then one pass deletes what is
 * past each window and nothing younger, in batches, one instance at a time; a subscription resuming
 * from before the cut gets REPLAY_WINDOW_EXCEEDED, one resuming from after it replays normally.
 */
import { randomUUID } from 'node:crypto';
import type { ResultOf } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { migrate } from '../src/db/migrate.js';
import { RETENTION_LOCK_KEY, runRetention } from '../src/maintenance/retention.js';
import { graphql } from './gql/index.js';
import { createScratchDatabase, withPgClient } from './helpers/database.js';
import { newUser, startInstance, type Instance, type TestUser } from './helpers/server.js';

const RetentionTestReminderFired = graphql(`
  subscription RetentionTestReminderFired($after: ID) {
    reminderFired(after: $after) {
      id
    }
  }
`);

const WINDOWS = { eventsDays: 30, deliveriesDays: 14, finishedTasksDays: 90 };
let scratch: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  scratch = await createScratchDatabase();
  await migrate(scratch.url);
});
afterAll(async () => {
  await scratch?.drop();
});

const sql = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) =>
  withPgClient(async (client) => (await client.query<T>(text, values)).rows, scratch.url);

/** A user row for `subject`, as the API would create it. */
async function userRow(subject: string): Promise<string> {
  const [row] = await sql<{ id: string }>(`INSERT INTO users (subject) VALUES ($1) RETURNING id`, [subject]);
  if (!row) throw new Error('no user');
  return row.id;
}

async function task(ownerId: string, status: 'ACTIVE' | 'COMPLETED' | 'CANCELED', ageDays: number): Promise<string> {
  const [row] = await sql<{ id: string }>(
    `INSERT INTO tasks (owner_id, title, deadline, status, updated_at)
     VALUES ($1, 'aged', now() + interval '1 day', $2, now() - $3 * interval '1 day') RETURNING id`,
    [ownerId, status, ageDays],
  );
  if (!row) throw new Error('no task');
  return row.id;
}

async function reminder(taskId: string, status: 'PENDING' | 'SENT' | 'CANCELED' | 'PROCESSING'): Promise<string> {
  const [row] = await sql<{ id: string }>(
    `INSERT INTO reminders (task_id, trigger_at, status, fired_at, claimed_by, claimed_at)
     VALUES ($1, now() - random() * interval '100 days', $2::"ReminderStatus",
             CASE WHEN $2 = 'SENT' THEN now() END,
             CASE WHEN $2 = 'PROCESSING' THEN 'dispatcher-1' END, CASE WHEN $2 = 'PROCESSING' THEN now() END)
     RETURNING id`,
    [taskId, status],
  );
  if (!row) throw new Error('no reminder');
  return row.id;
}

async function event(userId: string, ageDays: number): Promise<string> {
  const payload = { taskTitle: 'aged', deadline: new Date().toISOString(), triggerAt: new Date().toISOString() };
  const [row] = await sql<{ id: string }>(
    `INSERT INTO events (user_id, task_id, reminder_id, type, occurred_at, payload)
     VALUES ($1, $2, $3, 'reminder.fired', now() - $4 * interval '1 day', $5) RETURNING id::text`,
    [userId, randomUUID(), randomUUID(), ageDays, JSON.stringify(payload)],
  );
  if (!row) throw new Error('no event');
  return row.id;
}

async function delivery(eventId: string, userId: string, status: 'PENDING' | 'PROCESSING' | 'SENT' | 'FAILED', ageDays: number): Promise<string> {
  const [row] = await sql<{ id: string }>(
    `INSERT INTO deliveries (event_id, user_id, channel, status, updated_at, created_at)
     VALUES ($1, $2, 'EMAIL', $3, now() - $4 * interval '1 day', now() - $4 * interval '1 day') RETURNING id`,
    [eventId, userId, status, ageDays],
  );
  if (!row) throw new Error('no delivery');
  await sql(`INSERT INTO delivery_attempts (delivery_id, attempt, duration_ms, error) VALUES ($1, 1, 10, 'timeout')`, [row.id]);
  return row.id;
}

async function existing(table: 'events' | 'deliveries' | 'reminders' | 'tasks', ids: string[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(`SELECT id::text FROM ${table} WHERE id::text = ANY($1)`, [ids]);
  return rows.map((row) => row.id).sort();
}

describe('a retention pass', () => {
  it('deletes what is past each window, in batches, and keeps everything younger or still in use', async () => {
    const userId = await userRow(`retention-${randomUUID()}`);
    // Events: both sides of the 30-day boundary; an old one whose delivery is still pending stays.
    const oldEvents = await Promise.all([31, 40, 45, 50, 60].map((age) => event(userId, age)));
    const youngEvents = await Promise.all([29, 1].map((age) => event(userId, age)));
    const oldButPending = await event(userId, 45);
    const pendingDelivery = await delivery(oldButPending, userId, 'PENDING', 45);
    // Deliveries of young events: finished ones past 14 days go (with their attempts), younger stay.
    const oldDeliveries = [await delivery(youngEvents[0] ?? '', userId, 'SENT', 15), await delivery(youngEvents[1] ?? '', userId, 'FAILED', 20)];
    const youngEvent2 = await event(userId, 2);
    const youngDelivery = await delivery(youngEvent2, userId, 'SENT', 13);
    const deliveryOfOldEvent = await delivery(oldEvents[0] ?? '', userId, 'SENT', 3);
    // Reminders of tasks finished 91 days ago go; of one finished 89 days ago, or active, stay.
    const finishedLongAgo = await task(userId, 'COMPLETED', 91);
    const cancelledLongAgo = await task(userId, 'CANCELED', 120);
    const finishedRecently = await task(userId, 'CANCELED', 89);
    const activeOld = await task(userId, 'ACTIVE', 400);
    const goneReminders = [await reminder(finishedLongAgo, 'CANCELED'), await reminder(finishedLongAgo, 'SENT'), await reminder(cancelledLongAgo, 'CANCELED')];
    const beingFired = await reminder(cancelledLongAgo, 'PROCESSING');
    const keptReminders = [await reminder(finishedRecently, 'CANCELED'), await reminder(activeOld, 'PENDING'), beingFired];

    const result = await runRetention(scratch.url, { ...WINDOWS, batchSize: 2 });
    expect(result).toEqual({ skipped: false, events: 5, deliveries: 2 + 0, reminders: 3 });

    expect(await existing('events', [...oldEvents, ...youngEvents, youngEvent2, oldButPending])).toEqual([...youngEvents, youngEvent2, oldButPending].sort());
    // The delivery of a deleted event went with it; the pending one stays.
    expect(await existing('deliveries', [...oldDeliveries, youngDelivery, deliveryOfOldEvent, pendingDelivery])).toEqual([youngDelivery, pendingDelivery].sort());
    const attempts = await sql<{ delivery_id: string }>(`SELECT delivery_id::text FROM delivery_attempts WHERE delivery_id::text = ANY($1)`, [
      [...oldDeliveries, deliveryOfOldEvent],
    ]);
    expect(attempts).toEqual([]);
    expect(await existing('reminders', [...goneReminders, ...keptReminders])).toEqual([...keptReminders].sort());
    // The tasks themselves stay.
    expect(await existing('tasks', [finishedLongAgo, cancelledLongAgo])).toHaveLength(2);
    // The watermark is the highest event id deleted.
    const [watermark] = await sql<{ deleted_through: string }>(`SELECT deleted_through::text FROM retention_watermarks WHERE name = 'events'`);
    expect(watermark?.deleted_through).toBe(oldEvents.map(BigInt).reduce((a, b) => (a > b ? a : b)).toString());

    // A second pass finds nothing more.
    expect(await runRetention(scratch.url, { ...WINDOWS, batchSize: 2 })).toEqual({ skipped: false, events: 0, deliveries: 0, reminders: 0 });
  });

  it('skips the pass while another instance holds the lock, and runs once it is released', async () => {
    const userId = await userRow(`retention-lock-${randomUUID()}`);
    const old = await event(userId, 35);
    const holder = new pg.Client({ connectionString: scratch.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [RETENTION_LOCK_KEY.toString()]);
      expect(await runRetention(scratch.url, WINDOWS)).toEqual({ skipped: true });
      expect(await existing('events', [old])).toEqual([old]);
      await holder.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK_KEY.toString()]);
      expect(await runRetention(scratch.url, WINDOWS)).toMatchObject({ skipped: false });
      expect(await existing('events', [old])).toEqual([]);
    } finally {
      await holder.end();
    }
  });
});

describe('resuming a subscription across the retention cut', () => {
  let instance: Instance;
  let user: TestUser;
  let userId: string;

  beforeAll(async () => {
    instance = await startInstance(scratch.url);
    user = await newUser('replay');
    userId = await userRow(user.subject);
  });
  afterAll(async () => {
    await instance?.stop();
  });

  /** Subscribes with `after` and resolves with the first event id, or the first error's code. */
  async function firstOutcome(after: string): Promise<{ eventId?: string; code?: string; message?: string }> {
    const client = createClient({ url: instance.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${user.token}` }, retryAttempts: 0 });
    try {
      return await new Promise((resolve) => {
        client.subscribe<ResultOf<typeof RetentionTestReminderFired>>(
          { query: print(RetentionTestReminderFired), variables: { after } },
          {
            next: (result) => {
              const [error] = result.errors ?? [];
              if (error) resolve({ code: String(error.extensions?.code), message: error.message });
              else if (result.data) resolve({ eventId: result.data.reminderFired.id });
            },
            error: (error) => {
              const [first] = Array.isArray(error) ? (error as Array<{ message: string; extensions?: { code?: string } }>) : [];
              resolve({ code: first?.extensions?.code ?? 'socket error', message: first?.message });
            },
            complete: () => resolve({}),
          },
        );
      });
    } finally {
      await client.dispose();
    }
  }

  it('answers REPLAY_WINDOW_EXCEEDED at or before the cut, and replays from after it', async () => {
    const aged = await event(userId, 31);
    const firstKept = await event(userId, 1);
    const secondKept = await event(userId, 1);
    await runRetention(scratch.url, WINDOWS);
    expect(await existing('events', [aged, firstKept, secondKept])).toEqual([firstKept, secondKept].sort());
    const [mark] = await sql<{ deleted_through: string }>(`SELECT deleted_through::text FROM retention_watermarks WHERE name = 'events'`);
    const watermark = BigInt(mark?.deleted_through ?? '0');
    expect(watermark >= BigInt(aged)).toBe(true);
    expect(watermark < BigInt(firstKept)).toBe(true);

    for (const after of [watermark - 1n, watermark]) {
      const refused = await firstOutcome(after.toString());
      expect(refused.code).toBe('REPLAY_WINDOW_EXCEEDED');
      expect(refused.message).toMatch(/reload/);
    }
    // After the cut nothing was deleted: the next kept event is replayed.
    expect(await firstOutcome(firstKept)).toEqual({ eventId: secondKept });
  });
});
