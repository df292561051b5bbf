/**
 * README (Operations): on SIGTERM the server stops accepting connections, closes WebSockets (1001) and
 * lets in-flight HTTP requests finish; it then stops the dispatcher (releasing its claims), closes the
 * pool and exits 0 (issue 13, item 8: the shutdown order). The README used to say the sockets were
 * closed after the dispatcher; the code (src/server/app.ts) closes them at once, and this test found it.
 *
 * `node dist/server/main.js` with its dispatcher on. An in-flight cancelTask is held by a row lock the
 * test owns (a gate the test opens). While it waits: new connections are refused, the graphql-ws socket
 * has been closed with 1001, and the dispatcher is still registered (it stops only after the drain).
 * Once the gate opens the request is answered 200, the dispatcher unregisters, and the process exits 0.
 * Every step is observed (pg_blocking_pids, the dispatchers table, the socket's close event), never slept on.
 */
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testDatabaseUrl, withPgClient } from './helpers/database.js';
import { inSeconds, newUser } from './helpers/server.js';
import { killSpawned, startServer, tryConnect } from './helpers/spawned-server.js';

const clients: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.end().catch(() => undefined)));
  await killSpawned();
});

async function graphql(url: string, token: string, query: string): Promise<{ status: number; body: { data?: Record<string, unknown>; errors?: unknown } }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, unknown>; errors?: unknown } };
}

async function registered(dispatcherId: string): Promise<boolean> {
  return withPgClient(async (client) => (await client.query('SELECT 1 FROM dispatchers WHERE id = $1', [dispatcherId])).rowCount === 1);
}

/** Resolves when `check` holds, polling the database (an observable state, not a sleep standing in for one). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it('closes sockets with 1001 and drains in-flight requests with the dispatcher still up, then stops the dispatcher, and exits 0', { timeout: 120_000 }, async () => {
  // The gate below holds a row lock until the test opens it: the change waiting on it must not give
  // up first (the default 2 s LOCK_TIMEOUT_MS answers BUSY, which a loaded machine can reach).
  const server = await startServer(
    { DATABASE_URL: testDatabaseUrl(), SHUTDOWN_GRACE_SECONDS: '30', RETENTION_INTERVAL_MINUTES: '0', LOCK_TIMEOUT_MS: '60000', TRANSACTION_TIMEOUT_MS: '120000' },
    60_000,
  );
  const ready = await server.waitForLog('Tickler is ready', 60_000);
  const dispatcherId = String(ready.dispatcher);
  expect(await registered(dispatcherId)).toBe(true);
  const url = `http://127.0.0.1:${server.port}/graphql`;
  const user = await newUser('shutdown-order');
  const title = `held-${user.subject}`;
  const created = await graphql(url, user.token, `mutation { createTask(input: { title: "${title}", deadline: "${inSeconds(3600)}" }) { ... on CreateTaskSuccess { task { id } } } }`);
  const taskId = (created.body.data?.createTask as { task: { id: string } }).task.id;

  // A graphql-ws socket, acknowledged.
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, 'graphql-transport-ws');
  const closed = new Promise<{ code: number; at: number }>((resolve) => socket.once('close', (code) => resolve({ code, at: Date.now() })));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { token: user.token } })));
    socket.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve();
    });
    socket.once('error', reject);
  });

  // The gate: the task's row lock, so cancelTask waits in flight.
  const locker = new pg.Client({ connectionString: testDatabaseUrl() });
  clients.push(locker);
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT id FROM tasks WHERE title = $1 FOR UPDATE', [title]);
  const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  const inFlight = graphql(url, user.token, `mutation { cancelTask(id: "${taskId}") { __typename } }`);
  await until(
    'cancelTask to wait for the lock',
    () => withPgClient(async (client) => ((await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))', [lockerPid])).rows[0]?.n ?? 0) > 0),
    20_000,
  );

  server.signal('SIGTERM');
  await server.waitForLog('shutting down');
  // Draining: no new connections (retried until the listener is closed), the socket closed with 1001,
  // and the dispatcher still running while the request waits.
  await until('the listener to close', async () => (await tryConnect(server.port)) === 'ECONNREFUSED', 10_000);
  const close = await closed;
  expect(close.code).toBe(1001);
  expect(await registered(dispatcherId)).toBe(true);
  expect(server.exit).toBeUndefined();

  await locker.query('COMMIT');
  const answered = await inFlight;
  expect(answered.status).toBe(200);
  expect(answered.body.data).toEqual({ cancelTask: { __typename: 'CancelTaskSuccess' } });

  // Then the dispatcher stops and unregisters, before the process exits.
  await until('the dispatcher to unregister', async () => !(await registered(dispatcherId)), 30_000);
  expect(server.logs().map((line) => line.msg)).toContain('dispatcher stopped');
  expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
  expect(server.logs().map((line) => line.msg)).toContain('stopped');
});
