/**
 * README claims no other test pinned, each through the API at the README's literal value, both sides
 * of the boundary (issue 13, items 2 and 8). Expected values are written out, never imported from src.
 *
 * 1. Titles of 200 characters are taken, 201 refused; descriptions of 5,000 taken, 5,001 refused;
 *    a title of only spaces is refused (1–200 after trimming). Nothing is written by a refusal.
 * 2. `secondsBeforeDeadline: 0` is a reminder at the deadline itself; -1 is refused.
 * 3. `tasks(first:)` serves 99 and 100 rows, and 100 (not 101) for `first: 101` with 101 tasks stored.
 * 4. A document 10 levels deep is taken, 11 refused (QUERY_DEPTH); 100 aliases taken, 101 refused.
 * 5. GraphiQL is served by `node dist/server/main.js` by default, and not with GRAPHIQL=false or in
 *    production (the variable read through loadConfig by the real entry point).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { taskCount, testDatabaseUrl } from './helpers/database.js';
import { CreateTask, ListTasks } from './helpers/operations.js';
import { execute, inSeconds, newUser, run, useServer } from './helpers/server.js';
import { killSpawned, startServer } from './helpers/spawned-server.js';

const server = useServer();

/** POSTs a raw document; returns the HTTP status and body. */
async function post(query: string, token: string | null): Promise<{ status: number; body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> } }> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as never };
}

describe('title and description lengths (README: 1–200 characters, trimmed / at most 5,000)', () => {
  it('takes a title of 200 characters and refuses 201, writing nothing', async () => {
    const user = await newUser('lengths');
    const deadline = inSeconds(3600);
    const over = await run(server, user, CreateTask, { input: { title: 't'.repeat(201), deadline } });
    expect(over.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'title' });
    expect(await taskCount(user)).toBe(0);
    const atLimit = await run(server, user, CreateTask, { input: { title: 't'.repeat(200), deadline } });
    expect(atLimit.createTask).toMatchObject({ __typename: 'CreateTaskSuccess', task: { title: 't'.repeat(200) } });
    expect(await taskCount(user)).toBe(1);
  });

  it('trims before counting: 200 characters inside spaces are taken, spaces alone are refused', async () => {
    const user = await newUser('lengths');
    const padded = await run(server, user, CreateTask, { input: { title: `  ${'t'.repeat(200)}  `, deadline: inSeconds(3600) } });
    expect(padded.createTask).toMatchObject({ __typename: 'CreateTaskSuccess', task: { title: 't'.repeat(200) } });
    const blank = await run(server, user, CreateTask, { input: { title: '   ', deadline: inSeconds(3600) } });
    expect(blank.createTask).toMatchObject({ __typename: 'ValidationError', field: 'title' });
    expect(await taskCount(user)).toBe(1);
  });

  it('takes a description of 5,000 characters and refuses 5,001, writing nothing', async () => {
    const user = await newUser('lengths');
    const deadline = inSeconds(3600);
    const over = await run(server, user, CreateTask, { input: { title: 't', description: 'd'.repeat(5001), deadline } });
    expect(over.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'description' });
    expect(await taskCount(user)).toBe(0);
    const atLimit = await run(server, user, CreateTask, { input: { title: 't', description: 'd'.repeat(5000), deadline } });
    expect(atLimit.createTask).toMatchObject({ __typename: 'CreateTaskSuccess', task: { description: 'd'.repeat(5000) } });
    expect(await taskCount(user)).toBe(1);
  });
});

describe('secondsBeforeDeadline (README: 0 to 315,619,200)', () => {
  it('takes 0, a reminder at the deadline itself, and refuses -1', async () => {
    const user = await newUser('offset');
    const deadline = inSeconds(3600);
    const refused = await run(server, user, CreateTask, { input: { title: 't', deadline, reminders: [{ secondsBeforeDeadline: -1 }] } });
    expect(refused.createTask).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'reminders.0.secondsBeforeDeadline' });
    expect(await taskCount(user)).toBe(0);
    const zero = await run(server, user, CreateTask, { input: { title: 't', deadline, reminders: [{ secondsBeforeDeadline: 0 }] } });
    if (zero.createTask.__typename !== 'CreateTaskSuccess') throw new Error(JSON.stringify(zero.createTask));
    expect(zero.createTask.task.reminders).toEqual([expect.objectContaining({ secondsBeforeDeadline: 0, triggerAt: deadline, kind: 'RELATIVE' })]);
  });
});

describe('pages (README: at most 100 per page)', () => {
  it('serves 99 and 100 tasks for first: 99 and 100, and no more than 100 for first: 101', async () => {
    const user = await newUser('pages');
    // 101 tasks, in two documents of at most 100 aliases each.
    const creates = (from: number, count: number) =>
      `mutation { ${Array.from({ length: count }, (_, index) => `t${from + index}: createTask(input: { title: "t${from + index}", deadline: "${inSeconds(3600 + from + index)}" }) { __typename }`).join(' ')} }`;
    for (const [from, count] of [[0, 100], [100, 1]] as const) {
      const created = await post(creates(from, count), user.token);
      expect(created.body.errors).toBeUndefined();
    }
    expect(await taskCount(user)).toBe(101);
    const page = async (first: number) => {
      const result = await run(server, user, ListTasks, { first });
      return { edges: result.tasks.edges.length, hasNextPage: result.tasks.pageInfo.hasNextPage };
    };
    expect(await page(99)).toEqual({ edges: 99, hasNextPage: true });
    expect(await page(100)).toEqual({ edges: 100, hasNextPage: true });
    expect(await page(101)).toEqual({ edges: 100, hasNextPage: true });
  });
});

describe('document shape (README: 10 levels deep, 100 aliases)', () => {
  /** `levels` nested fields: tasks → edges → node → reminders → snoozedFrom… → id. */
  function nested(levels: number): string {
    const head = ['tasks(first: 1)', 'edges', 'node', 'reminders'];
    const fields = [...head, ...Array.from({ length: Math.max(0, levels - head.length - 1) }, () => 'snoozedFrom')].slice(0, levels - 1);
    return `{ ${fields.map((field) => `${field} {`).join(' ')} id ${'}'.repeat(fields.length)} }`;
  }

  it('takes 10 levels of fields and refuses 11 with QUERY_DEPTH', async () => {
    const user = await newUser('depth');
    const ten = await post(nested(10), user.token);
    expect(ten.body.errors).toBeUndefined();
    expect(ten.body.data).toEqual({ tasks: { edges: [] } });
    const eleven = await post(nested(11), user.token);
    expect(eleven.body.data ?? undefined).toBeUndefined();
    expect(eleven.body.errors?.map((error) => error.extensions?.code)).toEqual(['QUERY_DEPTH']);
  });

  it('takes 100 aliases and refuses 101 with QUERY_ALIASES', async () => {
    // graphql-armor does not count aliases of __typename, so these alias a real field.
    const user = await newUser('aliases');
    const aliases = (count: number) => `{ ${Array.from({ length: count }, (_, index) => `a${index}: viewer { __typename }`).join(' ')} }`;
    const hundred = await post(aliases(100), user.token);
    expect(hundred.body.errors).toBeUndefined();
    expect(Object.keys(hundred.body.data ?? {})).toHaveLength(100);
    const more = await post(aliases(101), user.token);
    expect(more.body.errors?.map((error) => error.extensions?.code)).toEqual(['QUERY_ALIASES']);
  });
});

describe('GraphiQL (README: on by default outside production, GRAPHIQL=false turns it off)', () => {
  afterEach(killSpawned);

  /** What a browser gets from GET /graphql: GraphiQL's HTML page, or not. */
  async function servesGraphiQL(url: string): Promise<boolean> {
    const response = await fetch(url, { headers: { accept: 'text/html' } });
    const body = await response.text();
    return response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/html') && body.includes('GraphiQL');
  }

  it.each([
    ['unset, outside production', {}, true],
    ['GRAPHIQL=false', { GRAPHIQL: 'false' }, false],
    ['unset, in production', { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' }, false],
    ['GRAPHIQL=true in production', { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars', GRAPHIQL: 'true' }, true],
  ] as const)('node dist/server/main.js with %s serves GraphiQL: %s', async (_case, env, expected) => {
    const spawned = await startServer({ DATABASE_URL: testDatabaseUrl(), DISPATCHER: 'false', RETENTION_INTERVAL_MINUTES: '0', ...env });
    expect(await servesGraphiQL(`http://127.0.0.1:${spawned.port}/graphql`)).toBe(expected);
  });
});
