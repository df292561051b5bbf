/**
 * The API server's dispatcher on its own worker thread (src/dispatcher/dispatcher-thread.ts): it
 * starts a real thread with its own pool and LISTEN connection, fires, stops by unregistering; and a
 * thread that dies (ended at once, as a crash would end it) is replaced by a new dispatcher, a new
 * id, which fires what falls due afterwards exactly once. Observed in the dispatchers, reminders and
 * events tables, never slept on.
 *
 * On a database of its own (useOwnDatabase): the short heartbeat and dead-after here would declare
 * other files' dispatchers dead on the shared one.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DispatcherThread } from '../src/dispatcher/dispatcher-thread.js';
import { closeTestPool, createUser, dispatcherDatabaseUrl, dispatcherRow, eventually, firingSummary, seedReminders, useOwnDatabase } from './helpers/dispatcher.js';

let dropOwnDatabase: (() => Promise<void>) | undefined;
let thread: DispatcherThread | undefined;

beforeAll(async () => {
  dropOwnDatabase = await useOwnDatabase();
});

afterAll(async () => {
  await thread?.stop(1000);
  await closeTestPool();
  await dropOwnDatabase?.();
});

async function firesOnce(prefix: string): Promise<void> {
  const { userId } = await createUser(prefix);
  const ids = await seedReminders(userId, 3, 0);
  const summary = await eventually('the reminders to fire', async () => {
    const fired = await firingSummary(userId, ids);
    return fired.sent === ids.length ? fired : undefined;
  });
  expect(summary.withoutEvent).toEqual([]);
  expect(summary.firedTwice).toEqual([]);
}

it('runs a dispatcher on a thread, replaces a thread that dies with a new dispatcher, and unregisters on stop', { timeout: 90_000 }, async () => {
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: dispatcherDatabaseUrl(),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    DISPATCHER_HEARTBEAT_MS: '200',
    DISPATCHER_DEAD_AFTER_MS: '1000',
  });
  thread = new DispatcherThread({ config, databaseUrl: dispatcherDatabaseUrl() });
  await thread.start();
  const first = thread.id;
  expect(first).not.toBe('');
  expect(await dispatcherRow(first)).toBeDefined();
  await firesOnce('thread-first');

  // The thread dies: nothing is unregistered or released; a new thread starts a new dispatcher.
  await thread.terminateThread();
  const current = thread;
  const second = await eventually(
    'a new dispatcher thread',
    async () => (current.id !== first && (await dispatcherRow(current.id)) !== undefined ? current.id : undefined),
    { timeoutMs: 30_000 },
  );
  expect(second).not.toBe(first);
  await firesOnce('thread-second');

  await thread.stop(1000);
  expect(await dispatcherRow(second)).toBeUndefined();
});
