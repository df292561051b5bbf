/**
 * A socket does not outlive its token (issue 8, item 10), and closing it loses nothing: reminders
 * keep firing (a real dispatcher) while a client's token expires; the server closes the socket
 * with 4403 "token expired"; the client reconnects with a fresh token and `after` = the last event
 * id it saw, and ends up with every event exactly once, in order. Only the public API is used.
 */
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { graphql } from './gql/index.js';
import { CreateTask } from './helpers/operations.js';
import { run, startInstance, TEST_JWT_SECRET, type Instance } from './helpers/server.js';
import { createIsolatedDatabase, eventually, FAST_DISPATCHER, startDispatcher, type IsolatedDatabase, type RunningDispatcher } from './helpers/sinks.js';

const ExpiryReminderFired = graphql(`
  subscription ExpiryReminderFired($after: ID) {
    reminderFired(after: $after) {
      id
      reminderId
    }
  }
`);

let database: IsolatedDatabase;
let instance: Instance;
let dispatcher: RunningDispatcher;

beforeAll(async () => {
  database = await createIsolatedDatabase();
  instance = await startInstance(database.url, { poolSize: 5 });
  dispatcher = await startDispatcher(database.url, FAST_DISPATCHER, instance);
});

afterAll(async () => {
  await dispatcher?.stop();
  await instance?.stop();
  await database?.drop();
});

interface Session {
  events: Array<{ id: string; reminderId: string }>;
  /** The close code that ended the socket. */
  ended: Promise<number>;
  dispose: () => Promise<void>;
}

function listen(token: string, after: string): Session {
  const client = createClient({ url: instance.wsUrl, webSocketImpl: WebSocket, connectionParams: { token }, retryAttempts: 0, lazy: true });
  const events: Session['events'] = [];
  const ended = new Promise<number>((resolve) => {
    client.subscribe(
      { query: print(ExpiryReminderFired), variables: { after } },
      {
        next: (result) => {
          const event = (result.data as { reminderFired?: { id: string; reminderId: string } } | undefined)?.reminderFired;
          if (event) events.push(event);
        },
        error: (error) => resolve(typeof error === 'object' && error !== null && 'code' in error ? Number(error.code) : -1),
        complete: () => resolve(1000),
      },
    );
  });
  return { events, ended, dispose: async () => { await client.dispose(); } };
}

describe('a token that expires under a live subscription', () => {
  it('closes the socket with 4403, and a reconnect with a fresh token and `after` misses and repeats nothing', async () => {
    const subject = `expiry-${Date.now()}`;
    const owner = { subject, token: await signToken(TEST_JWT_SECRET, subject) };
    // 10 reminders from 1 s to 7.3 s from now; the first token expires 3 s from now (whole seconds).
    const start = Date.now();
    const created = await run(instance, owner, CreateTask, {
      input: {
        title: 'expiring',
        deadline: new Date(start + 3600_000).toISOString(),
        reminders: Array.from({ length: 10 }, (_, index) => ({ at: new Date(start + 1000 + index * 700).toISOString() })),
      },
    });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const reminderIds = created.createTask.task.reminders.map((reminder) => reminder.id);

    const expiring = await signToken(TEST_JWT_SECRET, subject, { expiresIn: Math.floor(start / 1000) + 3 });
    const first = listen(expiring, '0');
    expect(await first.ended).toBe(4403);
    await first.dispose();
    const seenBefore = first.events.length;

    const fresh = await signToken(TEST_JWT_SECRET, subject);
    const second = listen(fresh, first.events.at(-1)?.id ?? '0');
    await eventually('all 10 events', () => (first.events.length + second.events.length >= 10 ? true : undefined), 30_000, 25);
    await second.dispose();

    const all = [...first.events, ...second.events];
    // The switch happened mid-stream, and together the two sockets saw each event once, in order.
    expect(seenBefore).toBeGreaterThan(0);
    expect(second.events.length).toBeGreaterThan(0);
    expect(all).toHaveLength(10);
    expect(new Set(all.map((event) => event.reminderId))).toEqual(new Set(reminderIds));
    const ids = all.map((event) => BigInt(event.id));
    expect(ids.every((id, index) => index === 0 || id > ids[index - 1]!)).toBe(true);
  });
});
