/**
 * README (WebSocket and live reminders): a client that reconnects with `after` receives everything of
 * its own committed after that event, with no gap and no duplicate, on any instance (issue 13, item 8:
 * replay beyond one page and on another instance).
 *
 * subscriptions.test.ts replays 9,999 events that the replaying instance's hub had not read yet, so its
 * live path could deliver them too. Here instance B's hub has already handed all 1,234 events (more than
 * two replay pages) to a live subscriber before the second subscription asks for them with after: "0":
 * only the replay can deliver them. They arrive once each, in the order the live subscriber saw them,
 * followed by a new live event exactly once. Instance A made the user; B serves both subscriptions.
 */
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testDatabaseUrl, withPgClient } from './helpers/database.js';
import { CreateTask } from './helpers/operations.js';
import { inSeconds, newUser, run, startInstance, type Instance, type TestUser } from './helpers/server.js';

const STORED = 1234;
let instanceA: Instance;
let instanceB: Instance;
const clients: Client[] = [];

beforeAll(async () => {
  instanceA = await startInstance(testDatabaseUrl());
  instanceB = await startInstance(testDatabaseUrl());
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await instanceA?.stop();
  await instanceB?.stop();
});

interface Feed {
  ids: string[];
  errors: unknown[];
  /** Resolves once `count` events have arrived. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
}

function feed(instance: Instance, user: TestUser, after: string | null): Feed {
  const client = createClient({ url: instance.wsUrl, webSocketImpl: WebSocket, connectionParams: { token: user.token }, lazy: false });
  clients.push(client);
  const ids: string[] = [];
  const errors: unknown[] = [];
  const waiters: Array<() => void> = [];
  client.subscribe<{ reminderFired: { id: string } }>(
    { query: 'subscription ($after: ID) { reminderFired(after: $after) { id } }', variables: { after } },
    {
      next: ({ data }) => {
        if (data) ids.push(data.reminderFired.id);
        for (const notify of waiters.splice(0)) notify();
      },
      error: (error) => errors.push(error),
      complete: () => undefined,
    },
  );
  return {
    ids,
    errors,
    waitFor: (count, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`have ${ids.length} of ${count} events; errors ${JSON.stringify(errors)}`)), timeoutMs);
        const check = () => {
          if (ids.length >= count) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

/** Open subscriptions of one user on `instance`: the hub counts them once registered. */
function subscribersOn(instance: Instance, userId: string): number {
  return instance.events.subscriptionCount(userId);
}

async function storeEvents(userId: string, count: number): Promise<void> {
  const fired = new Date(Date.now() - 60_000).toISOString();
  await withPgClient((client) =>
    client.query(
      `INSERT INTO events (user_id, task_id, reminder_id, type, payload)
       SELECT $1::uuid, gen_random_uuid(), gen_random_uuid(), 'reminder.fired',
              jsonb_build_object('taskTitle', 'stored ' || g, 'deadline', $3::text, 'triggerAt', $3::text, 'firedAt', $3::text)
       FROM generate_series(1, $2::int) g`,
      [userId, count, fired],
    ),
  );
  await withPgClient((client) => client.query(`SELECT pg_notify('tickler_events', '')`));
}

it(`replays ${STORED} events (more than two pages) on another instance whose hub already went past them, once each, in order, then live`, { timeout: 120_000 }, async () => {
  const user = await newUser('replay-page');
  await run(instanceA, user, CreateTask, { input: { title: 'makes the user', deadline: inSeconds(3600) } });
  const userId = await withPgClient(async (client) => (await client.query<{ id: string }>('SELECT id FROM users WHERE subject = $1', [user.subject])).rows[0]?.id);
  if (!userId) throw new Error('no user');

  const live = feed(instanceB, user, null);
  // Registered: the hub counts the subscriber (an observable signal, not a sleep).
  const deadline = Date.now() + 20_000;
  while (subscribersOn(instanceB, userId) === 0) {
    if (Date.now() > deadline) throw new Error('the live subscription never registered');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await storeEvents(userId, STORED);
  await live.waitFor(STORED, 60_000);

  const replay = feed(instanceB, user, '0');
  await replay.waitFor(STORED, 60_000);
  expect(replay.errors).toEqual([]);
  expect(replay.ids).toEqual(live.ids);
  expect(new Set(replay.ids).size).toBe(STORED);

  await storeEvents(userId, 1);
  await replay.waitFor(STORED + 1, 20_000);
  await live.waitFor(STORED + 1, 20_000);
  expect(replay.ids).toEqual(live.ids);
  expect(new Set(replay.ids).size).toBe(STORED + 1);
});
