/**
 * A socket does not outlive its token (issue 8, item 10), and closing it loses nothing. With a
 * real dispatcher firing: a client's socket is closed with 4403 "token expired" when its token's
 * `exp` passes; three more reminders fire while it is away (the test waits until they are SENT);
 * it reconnects with a fresh token and `after` = the last event id it saw, and three more fire
 * live. Across both sockets it sees all 8 events exactly once, in order. Only the public API is
 * used, and every wait is on an observable signal (a close, a reminder's status, an event).
 */
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { graphql } from './gql/index.js';
import { AddReminder, CreateTask, GetTask } from './helpers/operations.js';
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

/**
 * How far ahead reminders are set: far enough that the request which creates one still finds it in
 * the future on a loaded machine (a 0.5-1 s lead came back as ScheduleError at load average 18).
 * The test asserts totals and order only, so it does not matter which socket an event reaches.
 */
const LEAD_MS = 3000;

describe('a token that expires under a live subscription', () => {
  it('closes the socket with 4403, and a reconnect with a fresh token and `after` misses and repeats nothing', async () => {
    const subject = `expiry-${Date.now()}`;
    const owner = { subject, token: await signToken(TEST_JWT_SECRET, subject) };
    const soon = (ms: number) => new Date(Date.now() + ms).toISOString();
    const created = await run(instance, owner, CreateTask, {
      input: { title: 'expiring', deadline: soon(3600_000), reminders: [{ at: soon(LEAD_MS) }, { at: soon(LEAD_MS + 300) }] },
    });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const taskId = created.createTask.task.id;
    const reminderIds = created.createTask.task.reminders.map((reminder) => reminder.id);
    const addReminders = async (count: number) => {
      for (let index = 0; index < count; index += 1) {
        const added = await run(instance, owner, AddReminder, { taskId, reminder: { at: soon(LEAD_MS + index * 200) } });
        if (added.addReminder.__typename !== 'AddReminderSuccess') throw new Error(added.addReminder.__typename);
        reminderIds.push(added.addReminder.reminder.id);
      }
    };
    const allSent = () =>
      eventually('every reminder so far fired', async () => {
        const task = await run(instance, owner, GetTask, { id: taskId });
        if (task.task.__typename !== 'TaskSuccess') throw new Error(task.task.__typename);
        return task.task.task.reminders.every((reminder) => reminder.status === 'SENT') ? true : undefined;
      }, 30_000, 50);

    // 1. A socket whose token expires in 2 to 3 s (exp is whole seconds): closed with 4403.
    const expiring = await signToken(TEST_JWT_SECRET, subject, { expiresIn: Math.floor(Date.now() / 1000) + 3 });
    const first = listen(expiring, '0');
    expect(await first.ended).toBe(4403);
    await first.dispose();

    // 2. While no socket is open, more reminders fire.
    await addReminders(3);
    await allSent();

    // 3. A fresh token and `after`: the missed events are replayed, then live ones follow.
    const fresh = await signToken(TEST_JWT_SECRET, subject);
    const second = listen(fresh, first.events.at(-1)?.id ?? '0');
    await addReminders(3);
    await eventually('all 8 events', () => (first.events.length + second.events.length >= 8 ? true : undefined), 30_000, 25);
    await allSent();
    await second.dispose();

    const all = [...first.events, ...second.events];
    expect(all).toHaveLength(8);
    expect(new Set(all.map((event) => event.reminderId))).toEqual(new Set(reminderIds));
    const ids = all.map((event) => BigInt(event.id));
    expect(ids.every((id, index) => index === 0 || id > ids[index - 1]!)).toBe(true);
    // The three fired during the gap reached the client, through the replay.
    expect(second.events.length).toBeGreaterThanOrEqual(6);
  });
});
