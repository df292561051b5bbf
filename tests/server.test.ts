/**
 * The server as it is deployed: `node dist/server/main.js` started as a real process with its
 * environment, talked to over real sockets. Covers health and readiness, graceful shutdown
 * (in-flight requests finish, new connections are refused, WebSockets are closed with 1001),
 * production configuration checks, error masking, query and body limits, and the embedded
 * PostgreSQL keeping its data across restarts.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTokenVerifier, signToken } from '../src/auth/tokens.js';
import { DEVELOPMENT_JWT_SECRET } from '../src/config.js';
import { PgListener } from '../src/db/listener.js';
import { EventHub } from '../src/events/hub.js';
import { createPrismaClient, type Database } from '../src/db/client.js';
import { readMigrations } from '../src/db/migrate.js';
import { databaseIdOf } from '../src/graphql/global-ids.js';
import { createTicklerServer, type TicklerServer } from '../src/server/app.js';
import { createScratchDatabase, testDatabaseUrl } from './helpers/database.js';
import { CancelTask, CreateTask, GetTask } from './helpers/operations.js';
import { inSeconds, newUser, type TestUser } from './helpers/server.js';
import { childEnv, freePort, killSpawned, LISTENING, ServerProcess, spawnServer, startServer, tryConnect } from './helpers/spawned-server.js';


// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

interface GraphQLErrorBody {
  message: string;
  locations?: unknown;
  path?: unknown;
  extensions?: Record<string, unknown>;
}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: GraphQLErrorBody[];
}

interface GraphQLHttpResult<T> {
  status: number;
  text: string;
  body: GraphQLBody<T>;
}

async function postGraphQL<TResult, TVariables>(
  url: string,
  token: string | null,
  document: TypedDocumentNode<TResult, TVariables> | string,
  variables?: TVariables,
): Promise<GraphQLHttpResult<TResult>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
  });
  const text = await response.text();
  let body: GraphQLBody<TResult>;
  try {
    body = JSON.parse(text) as GraphQLBody<TResult>;
  } catch {
    throw new Error(`response ${response.status} is not JSON: ${text}`);
  }
  return { status: response.status, text, body };
}

/** Runs an operation that must succeed without errors. */
async function runGraphQL<TResult, TVariables>(
  url: string,
  user: TestUser,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const result = await postGraphQL(url, user.token, document, variables);
  if (result.body.errors?.length || !result.body.data) throw new Error(`operation failed (${result.status}): ${result.text}`);
  return result.body.data;
}

async function createTask(url: string, user: TestUser, title: string): Promise<{ id: string; title: string }> {
  const data = await runGraphQL(url, user, CreateTask, { input: { title, deadline: inSeconds(3600) } });
  if (data.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`createTask failed: ${JSON.stringify(data.createTask)}`);
  return data.createTask.task;
}

/** A plain HTTP request with a body, for what fetch hides (exact Content-Length, early responses). */
function rawPost(port: number, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length, accept: 'application/json' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    // The server may answer and close before it has read everything; its answer is what counts.
    request.on('error', reject);
    request.end(body);
  });
}

/** A JSON body of exactly `size` bytes running `{ __typename }`. */
function paddedBody(size: number): Buffer {
  const head = '{"query":"{ __typename }","variables":{"pad":"';
  const tail = '"}}';
  return Buffer.from(head + 'x'.repeat(size - head.length - tail.length) + tail);
}

afterEach(killSpawned);
afterAll(killSpawned);

// ---------------------------------------------------------------------------------------------
// 1 and 5: health, readiness, limits
// ---------------------------------------------------------------------------------------------

describe('a server started with `node dist/server/main.js`', () => {
  // One server for this block; afterEach above would kill it, so it is kept out of `spawned`.
  let server: ServerProcess;
  let user: TestUser;

  beforeAll(async () => {
    const port = await freePort();
    server = new ServerProcess(port, childEnv({ PORT: String(port), DATABASE_URL: testDatabaseUrl() }));
    await server.waitForLog(LISTENING);
    user = await newUser('server');
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('answers /health with 200 {"status":"ok"}', async () => {
    const response = await fetch(`${server.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /ready with 200 and ready: true on the migrated database', async () => {
    const response = await fetch(`${server.baseUrl}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ready: true, database: 'ok', pendingMigrations: [] });
  });

  it('rejects a query nested deeper than 10 levels with a validation error and no data', async () => {
    /** `__type(name: "Task") { ofType { ofType { ... { name } } } }`, nested `depth` levels: deep, yet cheap. */
    const nested = (depth: number) => {
      let selection = 'name';
      for (let level = depth - 2; level >= 1; level -= 1) selection = `ofType { ${selection} }`;
      return `query Deep { __type(name: "Task") { ${selection} } }`;
    };
    const tooDeep = await postGraphQL(server.graphqlUrl, user.token, nested(11));
    expect(tooDeep.body.data).toBeUndefined();
    expect(tooDeep.body.errors?.map((error) => error.message)).toEqual(['Query depth limit of 10 exceeded, found 11.']);
    expect(tooDeep.status).toBeGreaterThanOrEqual(400);

    // At the limit, the same shape passes validation and runs.
    const atLimit = await postGraphQL(server.graphqlUrl, user.token, nested(10));
    expect(atLimit.body.errors, atLimit.text).toBeUndefined();
    expect(atLimit.body.data).toEqual({ __type: { ofType: null } });
  });

  it('rejects a query with more than 100 aliases with a validation error and no data', async () => {
    const aliases = (count: number) => Array.from({ length: count }, (_, index) => `f${index}: viewer { id }`).join(' ');
    const result = await postGraphQL(server.graphqlUrl, user.token, `{ ${aliases(101)} }`);
    expect(result.body.data).toBeUndefined();
    expect(result.body.errors?.map((error) => error.message)).toEqual(['Aliases limit of 100 exceeded, found 101.']);
    expect(result.status).toBeGreaterThanOrEqual(400);

    const allowed = await postGraphQL<Record<string, { id: string }>, undefined>(server.graphqlUrl, user.token, `{ ${aliases(100)} }`);
    expect(allowed.body.errors, allowed.text).toBeUndefined();
    expect(Object.keys(allowed.body.data ?? {})).toHaveLength(100);
  });

  it('answers a POST body larger than 1 MiB with 413, and accepts one just under', async () => {
    const tooLarge = await rawPost(server.port, paddedBody(1024 * 1024 + 1));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.text).toContain('larger than');

    const underLimit = await rawPost(server.port, paddedBody(1024 * 1024));
    expect(underLimit.status).toBe(200);
    expect(JSON.parse(underLimit.text)).toEqual({ data: { __typename: 'Query' } });
  });

  it('rejects a DateTime without a time zone as a clear GraphQL error, in a variable or a literal', async () => {
    const asVariable = await postGraphQL(server.graphqlUrl, user.token, CreateTask, {
      input: { title: 'no zone', deadline: '2030-01-01T00:00:00' },
    });
    expect(asVariable.body.data ?? undefined).toBeUndefined();
    expect(asVariable.body.errors).toHaveLength(1);
    expect(asVariable.body.errors?.[0]?.message).toContain('DateTime must be an RFC 3339 string with a time zone');
    expect(asVariable.body.errors?.[0]?.message).toContain('input.deadline');
    expect(asVariable.text).not.toContain('Unexpected error');

    const asLiteral = await postGraphQL(
      server.graphqlUrl,
      user.token,
      'mutation { createTask(input: { title: "no zone", deadline: "2030-01-01T00:00:00" }) { __typename } }',
    );
    expect(asLiteral.body.data ?? undefined).toBeUndefined();
    expect(asLiteral.body.errors).toHaveLength(1);
    expect(asLiteral.body.errors?.[0]?.message).toContain('DateTime must be an RFC 3339 string with a time zone');
    expect(asLiteral.text).not.toContain('Unexpected error');

    // With a zone, the same input is taken.
    const withZone = await runGraphQL(server.graphqlUrl, user, CreateTask, { input: { title: 'zoned', deadline: '2030-01-01T00:00:00Z' } });
    expect(withZone.createTask.__typename).toBe('CreateTaskSuccess');
  });
});

describe('readiness of a server whose database is not ready', () => {
  const drops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await killSpawned();
    for (const drop of drops.splice(0)) await drop();
  });

  it('answers /ready with 503 listing every pending migration on an empty database (MIGRATE_ON_START=false)', async () => {
    const scratch = await createScratchDatabase();
    drops.push(scratch.drop);
    const server = await startServer({ DATABASE_URL: scratch.url, MIGRATE_ON_START: 'false' });
    const response = await fetch(`${server.baseUrl}/ready`);
    expect(response.status).toBe(503);
    const names = (await readMigrations()).map((migration) => migration.name);
    expect(names.length).toBeGreaterThan(0);
    expect(await response.json()).toEqual({ ready: false, database: 'ok', pendingMigrations: names });
    // Liveness does not depend on the database.
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
  });

  it('answers /ready with 503 and database "unreachable" when the database does not answer', async () => {
    const closedPort = await freePort();
    const server = await startServer({
      DATABASE_URL: `postgresql://tickler:secret@127.0.0.1:${closedPort}/tickler_test_nowhere`,
      MIGRATE_ON_START: 'false',
    });
    const response = await fetch(`${server.baseUrl}/ready`);
    expect(response.status).toBe(503);
    // What it could not check is "unknown", not "every migration pending".
    expect(await response.json()).toEqual({ ready: false, database: 'unreachable', pendingMigrations: 'unknown' });
  });
});

// ---------------------------------------------------------------------------------------------
// 2: graceful shutdown
// ---------------------------------------------------------------------------------------------

describe('graceful shutdown on SIGTERM', () => {
  const clients: pg.Client[] = [];
  afterEach(async () => {
    await killSpawned();
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  });

  it('lets an in-flight request finish, refuses new connections, and exits 0 after logging "stopped"', async () => {
    // The in-flight request waits on a row lock until the test commits it: a lock wait longer than
    // the test can take (the default 2 s LOCK_TIMEOUT_MS would answer BUSY, finishing the request
    // before a loaded machine had observed the closed listener).
    const server = await startServer({
      DATABASE_URL: testDatabaseUrl(),
      SHUTDOWN_GRACE_SECONDS: '20',
      LOCK_TIMEOUT_MS: '60000',
      TRANSACTION_TIMEOUT_MS: '120000',
    });
    const user = await newUser('shutdown');
    const task = await createTask(server.graphqlUrl, user, 'held by a lock');

    // Hold the task's row lock from outside, so cancelTask (SELECT ... FOR UPDATE) waits for it.
    const locker = new pg.Client({ connectionString: testDatabaseUrl() });
    clients.push(locker);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM tasks WHERE id = $1::uuid FOR UPDATE', [databaseIdOf(task.id, 'Task')]);
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;

    const inFlight = postGraphQL(server.graphqlUrl, user.token, CancelTask, { id: task.id }).catch(
      (error: unknown) => new Error(`the in-flight request failed: ${String(error)} (${String(error instanceof Error ? error.cause : '')})`),
    );
    const observer = new pg.Client({ connectionString: testDatabaseUrl() });
    clients.push(observer);
    await observer.connect();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await observer.query<{ waiting: number }>(
        'SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))',
        [lockerPid],
      );
      if ((rows[0]?.waiting ?? 0) > 0) break;
      if (Date.now() > deadline) throw new Error(`cancelTask never waited for the lock\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    server.signal('SIGTERM');
    await server.waitForLog('shutting down');
    // The log line is written just before the listener closes: try until the close is observed (a
    // connection may race it into the accept queue). It fails if the listener never closes.
    const refusedBy = Date.now() + 20_000;
    let attempt = await tryConnect(server.port);
    while (attempt !== 'ECONNREFUSED' && Date.now() < refusedBy) attempt = await tryConnect(server.port);
    // The listener is closed: a new connection is refused while the request still waits.
    expect(attempt).toBe('ECONNREFUSED');
    expect(server.exit, `the server exited before the in-flight request finished\n${server.output()}`).toBeUndefined();

    await locker.query('COMMIT');
    const response = await inFlight;
    if (response instanceof Error) {
      const exit = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 2000))]);
      throw new Error(`${response.message}; server exit: ${JSON.stringify(exit)}\n${server.output()}`);
    }
    expect(response.status).toBe(200);
    expect(response.body.errors, response.text).toBeUndefined();
    expect(response.body.data?.cancelTask).toMatchObject({ __typename: 'CancelTaskSuccess', task: { id: task.id, status: 'CANCELED' } });

    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    const messages = server.logs().map((line) => line.msg);
    expect(messages).toContain('stopped');
    expect(messages).not.toContain('shutdown grace period over; closing remaining connections');
    expect(server.logs().find((line) => line.msg === 'shutting down')?.signal).toBe('SIGTERM');
    expect(await tryConnect(server.port)).toBe('ECONNREFUSED');
  });

  it('closes an open graphql-ws socket with 1001 and exits 0', async () => {
    const server = await startServer({ DATABASE_URL: testDatabaseUrl() });
    const user = await newUser('socket');
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, 'graphql-transport-ws');
    try {
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      const acknowledged = new Promise<void>((resolve, reject) => {
        socket.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string };
          if (message.type === 'connection_ack') resolve();
        });
        socket.once('close', (code) => reject(new Error(`socket closed with ${code} before connection_ack`)));
        socket.once('error', reject);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } }));
      await acknowledged;

      server.signal('SIGTERM');
      const close = await Promise.race([
        closed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`socket not closed\n${server.output()}`)), 10_000)),
      ]);
      expect(close, `server exit: ${JSON.stringify(server.exit)}\n${server.output()}`).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
      expect(server.logs().map((line) => line.msg)).toContain('stopped');
    } finally {
      socket.terminate();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3: production safety
// ---------------------------------------------------------------------------------------------

describe('configuration checks at start-up', () => {
  const STRONG_SECRET = 'a-production-secret-that-is-long-enough-0123456789';
  const refused: Array<[string, Record<string, string | undefined>, string]> = [
    ['NODE_ENV=production without JWT_SECRET', { NODE_ENV: 'production' }, 'NODE_ENV=production needs JWT_SECRET or JWT_JWKS_URL'],
    [
      'NODE_ENV=production with the development JWT_SECRET',
      { NODE_ENV: 'production', JWT_SECRET: DEVELOPMENT_JWT_SECRET },
      'NODE_ENV=production with the development JWT_SECRET',
    ],
    ['NODE_ENV=production with a short JWT_SECRET', { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(31) }, 'JWT_SECRET must be at least 32 characters'],
    ['a short JWT_SECRET outside production', { JWT_SECRET: 'short-secret' }, 'JWT_SECRET must be at least 32 characters'],
  ];

  it.each(refused)('%s: exits non-zero with a configuration error, without listening', async (_name, env, message) => {
    // A database is configured, so nothing but the configuration can stop it from starting.
    const server = await spawnServer({ DATABASE_URL: testDatabaseUrl(), ...env });
    const exit = await server.waitForExit();
    expect(exit.code, server.output()).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const errors = server.logs().filter((line) => line.level === 'error');
    expect(errors.map((line) => line.msg)).toEqual([expect.stringContaining(`configuration error: ${message}`)]);
    expect(server.logs().map((line) => line.msg)).not.toContain(LISTENING);
    expect(server.stdout + server.stderr).not.toContain(STRONG_SECRET);
    expect(await tryConnect(server.port)).toBe('ECONNREFUSED');
  });

  it('starts in production with a strong JWT_SECRET (the checks above are not refusing everything)', async () => {
    const server = await startServer({ DATABASE_URL: testDatabaseUrl(), NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET });
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
    // Tokens signed with the development secret are not accepted by it.
    const devToken = await signToken(DEVELOPMENT_JWT_SECRET, 'someone');
    const rejected = await postGraphQL(server.graphqlUrl, devToken, '{ viewer { id } }');
    expect(rejected.status).toBe(401);
    expect(rejected.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

// ---------------------------------------------------------------------------------------------
// 4: error masking
// ---------------------------------------------------------------------------------------------

describe('error masking', () => {
  const running: Array<{ server: TicklerServer; db: Database }> = [];
  afterEach(async () => {
    for (const { server, db } of running.splice(0)) {
      await server.close(0);
      await db.$disconnect();
    }
  });

  async function serverOn(databaseUrl: string): Promise<string> {
    const db = createPrismaClient(databaseUrl);
    const server = createTicklerServer({
      db,
      // Never started: these tests use no subscriptions.
      events: new EventHub(db, new PgListener(databaseUrl)),
      // Tests run their webhook receivers on 127.0.0.1.
      webhookPolicy: { allowPrivate: false, allowLoopback: true },
      verifyToken: createTokenVerifier({ secret: DEVELOPMENT_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined }),
      migrationNames: (await readMigrations()).map((migration) => migration.name),
      graphiql: false,
    });
    running.push({ server, db });
    const address = await server.listen(0, '127.0.0.1');
    return `http://127.0.0.1:${address.port}/graphql`;
  }

  const missingDatabase = () => {
    const url = new URL(testDatabaseUrl());
    url.pathname = '/tickler_test_does_not_exist';
    return url.toString();
  };
  const closedPort = async () => `postgresql://tickler_user:hunter2-password@127.0.0.1:${await freePort()}/tickler_test_closed`;

  it.each([
    ['a database that does not exist', async () => missingDatabase()],
    ['a closed port', closedPort],
  ])('a signed-in query against %s gets "Unexpected error." and nothing internal', async (_name, databaseUrl) => {
    const url = await databaseUrl();
    const graphqlUrl = await serverOn(url);
    // A subject never seen before, so resolving the viewer has to ask the database.
    const token = await signToken(DEVELOPMENT_JWT_SECRET, `masked-${Date.now()}-${Math.random()}`);
    const result = await postGraphQL(graphqlUrl, token, '{ viewer { id subject } tasks(first: 1) { edges { cursor } } }');

    expect(result.body.data ?? undefined).toBeUndefined();
    expect(result.body.errors?.map((error) => error.message)).toEqual(['Unexpected error.']);
    for (const error of result.body.errors ?? []) {
      expect(Object.keys(error.extensions ?? {}).filter((key) => key !== 'code' && key !== 'http')).toEqual([]);
    }
    const text = result.text;
    const parsed = new URL(url);
    for (const leak of [
      'stack',
      'originalError',
      'prisma',
      'postgres',
      'ECONNREFUSED',
      'SELECT',
      'INSERT',
      'users',
      'does not exist',
      '.ts:',
      parsed.hostname === '127.0.0.1' ? '127.0.0.1' : parsed.hostname,
      parsed.port,
      parsed.username,
      decodeURIComponent(parsed.password),
      parsed.pathname.slice(1),
    ].filter((leak) => leak !== '')) {
      expect(text.toLowerCase(), `response leaks "${leak}": ${text}`).not.toContain(leak.toLowerCase());
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 6: the embedded PostgreSQL keeps data across restarts
// ---------------------------------------------------------------------------------------------

describe('the embedded PostgreSQL (no DATABASE_URL)', () => {
  const folders: string[] = [];
  afterEach(async () => {
    await killSpawned();
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  it('keeps a task created through the API across a SIGTERM and a restart on the same folder', { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tickler-server-test-'));
    folders.push(dataDir);
    // As root, PostgreSQL runs as the postgres user, which must be able to enter the folder.
    await chmod(dataDir, 0o755);
    const pgPort = await freePort();
    const env = { DATABASE_URL: undefined, TICKLER_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort) };
    const user = await newUser('embedded');

    const first = await startServer(env, 45_000);
    // It listens before the new database is migrated; "ready" follows the migrations.
    await first.waitForLog('Tickler is ready', 45_000);
    const messages = first.logs().map((line) => line.msg);
    expect(messages).toContain('initialising embedded PostgreSQL');
    expect(messages).toContain('embedded PostgreSQL started');
    const task = await createTask(first.graphqlUrl, user, 'survives a restart');
    first.signal('SIGTERM');
    expect(await first.waitForExit()).toEqual({ code: 0, signal: null });
    expect(first.logs().map((line) => line.msg)).toContain('stopped');
    // The embedded PostgreSQL was stopped with the server.
    expect(await tryConnect(pgPort)).toBe('ECONNREFUSED');

    const second = await startServer(env, 45_000);
    await second.waitForLog('Tickler is ready', 45_000);
    const restarted = second.logs().map((line) => line.msg);
    expect(restarted).not.toContain('initialising embedded PostgreSQL');
    expect(restarted).toContain('embedded PostgreSQL started');
    const found = await runGraphQL(second.graphqlUrl, user, GetTask, { id: task.id });
    expect(found.task).toMatchObject({ __typename: 'TaskSuccess', task: { id: task.id, title: 'survives a restart', status: 'ACTIVE' } });
    second.signal('SIGTERM');
    expect(await second.waitForExit()).toEqual({ code: 0, signal: null });
  });
});
