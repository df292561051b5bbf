/**
 * Quotas and rate limits per user (issue 8, item 15), each refusal typed and writing nothing:
 *
 * 1. Active tasks: with a quota of 5, the 6th createTask answers TooManyTasksError (limit 5); a
 *    finished task frees a place; 10 concurrent creates by one user land exactly 5.
 * 2. Mutations per minute: with 10 per minute, the 11th mutation field answers RATE_LIMITED (HTTP 429
 *    with Retry-After), over HTTP and over graphql-ws; queries still answer; another user is
 *    unaffected; two instances on one database share one budget; 11 aliased mutations in one
 *    request are refused whole.
 * 3. The settings: defaults, overrides, 0 for "no limit", and clear refusals of nonsense at start-up.
 */
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../src/config.js';
import { testDatabaseUrl, withPgClient } from './helpers/database.js';
import { CompleteTask, CreateTask, Viewer } from './helpers/operations.js';
import { inSeconds, newUser, run, startInstance, type Instance, type TestUser } from './helpers/server.js';

let quotaServer: Instance;
let limitedA: Instance;
let limitedB: Instance;

beforeAll(async () => {
  quotaServer = await startInstance(testDatabaseUrl(), { poolSize: 5, limits: { maxActiveTasksPerUser: 5, mutationsPerMinute: 0 } });
  limitedA = await startInstance(testDatabaseUrl(), { poolSize: 3, limits: { mutationsPerMinute: 10 } });
  limitedB = await startInstance(testDatabaseUrl(), { poolSize: 3, limits: { mutationsPerMinute: 10 } });
});

afterAll(async () => {
  await Promise.all([quotaServer?.stop(), limitedA?.stop(), limitedB?.stop()]);
});

async function taskCount(user: TestUser): Promise<number> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1', [user.subject]);
    return Number(rows[0]?.n);
  });
}

async function post(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, { __typename: string } | null> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

const createTaskQuery = print(CreateTask);
const createInput = (title: string) => ({ input: { title, deadline: inSeconds(24 * 3600) } });

describe('active tasks per user', () => {
  it('takes the 5th, refuses the 6th with TooManyTasksError writing nothing, and takes it once one is finished', async () => {
    const user = await newUser('quota');
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const created = await run(quotaServer, user, CreateTask, createInput(`task ${index}`));
      if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
      ids.push(created.createTask.task.id);
    }
    const sixth = await post(quotaServer.url, user.token, `mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on Error { code } ... on TooManyTasksError { limit } } }`, createInput('sixth'));
    expect(sixth.body.data?.createTask).toEqual({ __typename: 'TooManyTasksError', code: 'TOO_MANY_TASKS', limit: 5 });
    expect(await taskCount(user)).toBe(5);

    await run(quotaServer, user, CompleteTask, { id: ids[0]! });
    const afterFinishing = await run(quotaServer, user, CreateTask, createInput('sixth'));
    expect(afterFinishing.createTask.__typename).toBe('CreateTaskSuccess');
    expect(await taskCount(user)).toBe(6);
  });

  it('lands exactly 5 of 10 concurrent creates by one user', async () => {
    const user = await newUser('quota');
    const answers = await Promise.all(Array.from({ length: 10 }, (_, index) => post(quotaServer.url, user.token, createTaskQuery, createInput(`race ${index}`))));
    const kinds = answers.map((answer) => answer.body.data?.createTask?.__typename).sort();
    expect(kinds).toEqual([...Array(5).fill('CreateTaskSuccess'), ...Array(5).fill('TooManyTasksError')]);
    expect(await taskCount(user)).toBe(5);
  });
});

describe('mutations per user per minute', () => {
  it('answers the 11th mutation with RATE_LIMITED and 429, writing nothing; queries and other users still pass', async () => {
    const user = await newUser('rate');
    for (let index = 0; index < 10; index += 1) {
      const answer = await post(limitedA.url, user.token, createTaskQuery, createInput(`t${index}`));
      expect(answer.body.data?.createTask?.__typename).toBe('CreateTaskSuccess');
    }
    const eleventh = await post(limitedA.url, user.token, createTaskQuery, createInput('eleventh'));
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(eleventh.body.data ?? null).toBeNull();
    expect(eleventh.body.errors?.map((error) => error.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(eleventh.body.errors?.[0]?.extensions).toMatchObject({ limit: 10 });
    expect(await taskCount(user)).toBe(10);

    // Queries are not counted.
    expect((await run(limitedA, user, Viewer)).viewer).toBeTruthy();
    // Another user has their own budget.
    const other = await newUser('rate');
    expect((await post(limitedA.url, other.token, createTaskQuery, createInput('other'))).body.data?.createTask?.__typename).toBe('CreateTaskSuccess');

    // Over graphql-ws the same refusal, as the operation's error.
    const client = createClient({ url: limitedA.wsUrl, webSocketImpl: WebSocket, connectionParams: { token: user.token }, retryAttempts: 0, lazy: true });
    try {
      const result = await new Promise<{ errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }>((resolve, reject) => {
        let last: { errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> } = {};
        client.subscribe({ query: createTaskQuery, variables: createInput('over ws') }, {
          next: (value) => (last = value as typeof last),
          error: (error) => resolve({ errors: Array.isArray(error) ? error : [] }),
          complete: () => resolve(last),
        });
        void reject;
      });
      expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['RATE_LIMITED']);
    } finally {
      await client.dispose();
    }
    expect(await taskCount(user)).toBe(10);
  });

  it('shares one budget across instances on one database', async () => {
    const user = await newUser('rate');
    for (let index = 0; index < 10; index += 1) {
      const instance = index % 2 === 0 ? limitedA : limitedB;
      expect((await post(instance.url, user.token, createTaskQuery, createInput(`t${index}`))).body.data?.createTask?.__typename).toBe('CreateTaskSuccess');
    }
    expect((await post(limitedB.url, user.token, createTaskQuery, createInput('eleventh'))).status).toBe(429);
    expect((await post(limitedA.url, user.token, createTaskQuery, createInput('twelfth'))).status).toBe(429);
    expect(await taskCount(user)).toBe(10);
  });

  it('refuses 11 aliased mutations in one request whole, and takes 10', async () => {
    const aliases = (count: number) =>
      `mutation($input: CreateTaskInput!) { ${Array.from({ length: count }, (_, index) => `m${index}: createTask(input: $input) { __typename }`).join(' ')} }`;
    const user = await newUser('rate');
    const refused = await post(limitedA.url, user.token, aliases(11), createInput('alias'));
    expect(refused.status).toBe(429);
    expect(await taskCount(user)).toBe(0);

    const other = await newUser('rate');
    const accepted = await post(limitedA.url, other.token, aliases(10), createInput('alias'));
    expect(accepted.status).toBe(200);
    expect(await taskCount(other)).toBe(10);
  });
});

describe('configuration', () => {
  it('reads the limits from the environment, with documented defaults', () => {
    expect(loadConfig({}).limits).toEqual({
      maxActiveTasksPerUser: 1000,
      mutationsPerMinute: 600,
      socketsPerUser: 10,
      subscriptionsPerSocket: 50,
      socketBufferedBytes: 4194304,
      lockTimeoutMs: 2000,
      transactionMaxWaitMs: 5000,
      transactionTimeoutMs: 10000,
    });
    const limits = loadConfig({
      MAX_ACTIVE_TASKS_PER_USER: '0',
      MUTATIONS_PER_MINUTE: '0',
      WS_MAX_SOCKETS_PER_USER: '2',
      WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '7',
      WS_MAX_BUFFERED_BYTES: '65536',
      LOCK_TIMEOUT_MS: '500',
      TRANSACTION_MAX_WAIT_MS: '100',
      TRANSACTION_TIMEOUT_MS: '501',
    }).limits;
    expect(limits).toEqual({
      maxActiveTasksPerUser: 0,
      mutationsPerMinute: 0,
      socketsPerUser: 2,
      subscriptionsPerSocket: 7,
      socketBufferedBytes: 65536,
      lockTimeoutMs: 500,
      transactionMaxWaitMs: 100,
      transactionTimeoutMs: 501,
    });
  });

  it('refuses nonsense at start-up', () => {
    expect(() => loadConfig({ MUTATIONS_PER_MINUTE: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ WS_MAX_BUFFERED_BYTES: '65535' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOCK_TIMEOUT_MS: '500', TRANSACTION_TIMEOUT_MS: '500' })).toThrow(/TRANSACTION_TIMEOUT_MS must exceed LOCK_TIMEOUT_MS/);
  });
});
