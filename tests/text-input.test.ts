/**
 * One input layer for text (issue 8, item 5): a NUL (U+0000) or a lone UTF-16 surrogate in any
 * string argument, over HTTP or graphql-ws, or in a token claim that reaches the database, is
 * refused with a VALIDATION error naming the field (a 401 naming the claim, for tokens), nothing is
 * written, and the answer is never "Unexpected error.". Well-formed text with astral characters
 * (a surrogate pair) is taken and comes back unchanged.
 *
 * Fields whose result lists ValidationError answer it as data; the others answer a top-level error
 * with `extensions: { code: "VALIDATION", field }`.
 */
import { createClient } from 'graphql-ws';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { withPgClient } from './helpers/database.js';
import { TEST_JWT_SECRET, inSeconds, newUser, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

/** The strings PostgreSQL text cannot hold as sent, and the reason each is refused with. */
const UNSTORABLE: Array<[string, string, string]> = [
  ['a NUL', 'before\u0000after', 'contains a NUL character (U+0000)'],
  ['a lone high surrogate', 'clock \uD83D', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
  ['a lone low surrogate', '\uDE00 smile', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
  ['surrogates in the wrong order', 'x\uDE00\uD83Dy', 'contains a lone UTF-16 surrogate (not valid Unicode)'],
];

interface Answer {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

async function post(token: string | null, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Answer['body'] };
}

/** What the database holds for a user: their tasks, reminders and webhook endpoints, as text. */
async function storedFor(user: TestUser): Promise<string> {
  return withPgClient(async (client) => {
    const rows = await client.query(
      `SELECT (SELECT json_agg(t ORDER BY t.id) FROM tasks t WHERE t.owner_id = u.id) AS tasks,
              (SELECT json_agg(r ORDER BY r.id) FROM reminders r JOIN tasks t ON t.id = r.task_id WHERE t.owner_id = u.id) AS reminders,
              (SELECT json_agg(w ORDER BY w.id) FROM webhook_endpoints w WHERE w.user_id = u.id) AS endpoints
       FROM users u WHERE u.subject = $1`,
      [user.subject],
    );
    return JSON.stringify(rows.rows);
  });
}

const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on CreateTaskSuccess { task { id title description } } ... on Error { code message } ... on ValidationError { field } } }`;
const UPDATE_TASK = `mutation($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { __typename ... on Error { code message } ... on ValidationError { field } } }`;
const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename ... on ValidationError { code message field } } }`;
const ADD_REMINDER = `mutation($taskId: ID!) { addReminder(taskId: $taskId, reminder: { secondsBeforeDeadline: 60 }) { __typename ... on ValidationError { code message field } } }`;

async function userWithTask(): Promise<{ user: TestUser; taskId: string }> {
  const user = await newUser('text');
  const created = await post(user.token, CREATE_TASK, { input: { title: 'kept', description: 'as it was', deadline: inSeconds(3600) } });
  const result = created.body.data?.createTask as { __typename: string; task: { id: string } };
  expect(result.__typename).toBe('CreateTaskSuccess');
  return { user, taskId: result.task.id };
}

function validationAsData(field: string, reason: string) {
  return { __typename: 'ValidationError', code: 'VALIDATION', message: `${field} ${reason}`, field };
}

describe.each(UNSTORABLE)('%s', (_label, bad, reason) => {
  it('createTask: title and description answer ValidationError naming the field, and nothing is written', async () => {
    const user = await newUser('text');
    for (const [field, input] of [
      ['title', { title: bad, deadline: inSeconds(3600) }],
      ['description', { title: 'fine', description: bad, deadline: inSeconds(3600) }],
    ] as const) {
      const answer = await post(user.token, CREATE_TASK, { input });
      expect(answer.body, field).toEqual({ data: { createTask: validationAsData(field, reason) } });
    }
    expect(await storedFor(user)).toBe('[{"tasks":null,"reminders":null,"endpoints":null}]');
  });

  it('updateTask: title, description and the id answer ValidationError; the task is unchanged', async () => {
    const { user, taskId } = await userWithTask();
    const before = await storedFor(user);
    expect((await post(user.token, UPDATE_TASK, { id: taskId, input: { title: bad } })).body).toEqual({
      data: { updateTask: validationAsData('title', reason) },
    });
    expect((await post(user.token, UPDATE_TASK, { id: taskId, input: { description: bad } })).body).toEqual({
      data: { updateTask: validationAsData('description', reason) },
    });
    expect((await post(user.token, UPDATE_TASK, { id: `${taskId}${bad}`, input: { title: 'x' } })).body).toEqual({
      data: { updateTask: validationAsData('id', reason) },
    });
    expect(await storedFor(user)).toBe(before);
  });

  it('createWebhookEndpoint: url and description answer ValidationError; no endpoint is written', async () => {
    const user = await newUser('text');
    expect((await post(user.token, CREATE_ENDPOINT, { input: { url: `https://example.com/${bad}` } })).body).toEqual({
      data: { createWebhookEndpoint: validationAsData('url', reason) },
    });
    expect((await post(user.token, CREATE_ENDPOINT, { input: { url: 'https://example.com/hook', description: bad } })).body).toEqual({
      data: { createWebhookEndpoint: validationAsData('description', reason) },
    });
    expect(await storedFor(user)).toBe('[{"tasks":null,"reminders":null,"endpoints":null}]');
  });

  it('every id argument: VALIDATION naming it, as data where the field lists ValidationError, else top-level', async () => {
    const { user, taskId } = await userWithTask();
    const before = await storedFor(user);
    const id = `${taskId}${bad}`;
    expect((await post(user.token, ADD_REMINDER, { taskId: id })).body).toEqual({ data: { addReminder: validationAsData('taskId', reason) } });
    const topLevel: Array<[string, string]> = [
      ['task', 'query($id: ID!) { task(id: $id) { __typename } }'],
      ['node', 'query($id: ID!) { node(id: $id) { id } }'],
      ['completeTask', 'mutation($id: ID!) { completeTask(id: $id) { __typename } }'],
      ['cancelTask', 'mutation($id: ID!) { cancelTask(id: $id) { __typename } }'],
      ['deleteTask', 'mutation($id: ID!) { deleteTask(id: $id) { __typename } }'],
      ['removeReminder', 'mutation($id: ID!) { removeReminder(id: $id) { __typename } }'],
      ['deleteWebhookEndpoint', 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename } }'],
    ];
    for (const [field, query] of topLevel) {
      const answer = await post(user.token, query, { id });
      expect(answer.body.errors, field).toEqual([
        expect.objectContaining({ message: `id ${reason}`, extensions: { code: 'VALIDATION', field: 'id' }, path: [field] }),
      ]);
      expect(answer.text, field).not.toContain('Unexpected error');
    }
    expect(await storedFor(user)).toBe(before);
  });

  it('reminderFired over graphql-ws: taskId and after answer VALIDATION naming them', async () => {
    const user = await newUser('text');
    const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${user.token}` }, retryAttempts: 0 });
    try {
      for (const [field, query] of [
        ['taskId', 'subscription($v: ID!) { reminderFired(taskId: $v) { id } }'],
        ['after', 'subscription($v: ID!) { reminderFired(after: $v) { id } }'],
      ] as const) {
        const errors = await new Promise<unknown>((resolve) => {
          client.subscribe(
            { query, variables: { v: `1${bad}` } },
            { next: (value) => resolve(value.errors), error: (error) => resolve(error), complete: () => resolve('completed without an error') },
          );
        });
        expect(errors, field).toEqual([expect.objectContaining({ message: `${field} ${reason}`, extensions: { code: 'VALIDATION', field } })]);
      }
    } finally {
      await client.dispose();
    }
  });
});

describe('the boundary: well-formed text', () => {
  it('a surrogate pair (an emoji), U+FFFD and U+0001 are stored and come back unchanged', async () => {
    const user = await newUser('text');
    const title = 'Smile \uD83D\uDE00 \uFFFD \u0001';
    const created = await post(user.token, CREATE_TASK, { input: { title, description: '\uD834\uDD1E clef', deadline: inSeconds(3600) } });
    expect(created.body.data?.createTask).toMatchObject({ __typename: 'CreateTaskSuccess', task: { title, description: '\uD834\uDD1E clef' } });
  });

  it('a NUL written as a GraphQL string escape in the document itself is refused the same way', async () => {
    const user = await newUser('text');
    const answer = await post(user.token, `mutation { createTask(input: { title: "a\\u0000b", deadline: "${inSeconds(3600)}" }) { __typename ... on ValidationError { code field message } } }`);
    expect(answer.body).toEqual({
      data: { createTask: { __typename: 'ValidationError', code: 'VALIDATION', field: 'title', message: 'title contains a NUL character (U+0000)' } },
    });
    expect(await storedFor(user)).toBe('[{"tasks":null,"reminders":null,"endpoints":null}]');
  });
});

describe('token claims that reach the database', () => {
  async function tokenWith(claims: Record<string, string>, subject: string): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(subject).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  }

  async function usersWithSubjectLike(prefix: string): Promise<number> {
    return withPgClient(async (client) => Number((await client.query<{ count: string }>('SELECT count(*) FROM users WHERE subject LIKE $1', [`${prefix}%`])).rows[0]?.count));
  }

  it.each(UNSTORABLE)('sub or email with %s: 401 naming the claim over HTTP, 4403 over graphql-ws, no user written', async (_label, bad, reason) => {
    const prefix = `claims-${Math.random().toString(36).slice(2)}`;
    const cases: Array<[string, string]> = [
      ['sub', await tokenWith({}, `${prefix}-${bad}`)],
      ['email', await tokenWith({ email: `someone${bad}@example.com` }, `${prefix}-email`)],
    ];
    for (const [claim, token] of cases) {
      const answer = await post(token, '{ viewer { id } }');
      expect(answer.status, claim).toBe(401);
      expect(answer.body.errors, claim).toEqual([
        expect.objectContaining({ message: `token claim "${claim}" ${reason}`, extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }),
      ]);
      const closeCode = await new Promise<number>((resolve) => {
        const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
        socket.on('close', (code) => resolve(code));
      });
      expect(closeCode, claim).toBe(4403);
    }
    expect(await usersWithSubjectLike(prefix)).toBe(0);
  });
});

describe('every refusal of client input carries a code and names the field', () => {
  it('updateTask with title: null or deadline: null answers ValidationError naming the field; the task is unchanged', async () => {
    const { user, taskId } = await userWithTask();
    const before = await storedFor(user);
    for (const field of ['title', 'deadline']) {
      const answer = await post(user.token, UPDATE_TASK, { id: taskId, input: { [field]: null } });
      expect(answer.body.data?.updateTask).toEqual({ __typename: 'ValidationError', code: 'VALIDATION', message: `${field} cannot be null: leave it out to keep it`, field });
    }
    expect(await storedFor(user)).toBe(before);
    // The other side: description: null clears the description.
    const cleared = await post(user.token, UPDATE_TASK, { id: taskId, input: { description: null } });
    expect(cleared.body.data?.updateTask).toEqual({ __typename: 'UpdateTaskSuccess' });
  });

  it('a NUL inside a base64 global id answers VALIDATION naming `id`, not the decoded `id.id`', async () => {
    const user = await newUser('text');
    const answer = await post(user.token, 'query($id: ID!) { node(id: $id) { id } }', { id: Buffer.from('Task:\u0000').toString('base64') });
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: 'id contains a NUL character (U+0000)', extensions: { code: 'VALIDATION', field: 'id' } })]);
    // The other side: a well-formed id of nothing is simply absent.
    const absent = await post(user.token, 'query($id: ID!) { node(id: $id) { id } }', { id: Buffer.from('Task:00000000-0000-4000-8000-000000000000').toString('base64') });
    expect(absent.body).toEqual({ data: { node: null } });
  });

  it('tasks(first: -1) answers VALIDATION naming `first`; first: 0 is an empty page', async () => {
    const user = await newUser('text');
    const answer = await post(user.token, '{ tasks(first: -1) { edges { cursor } } }');
    expect(answer.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'VALIDATION', field: 'first' } })]);
    expect((await post(user.token, '{ tasks(first: 0) { edges { cursor } } }')).body).toEqual({ data: { tasks: { edges: [] } } });
  });

  it('a webhook URL with port 0 is refused naming `url`; port 1 is taken', async () => {
    const user = await newUser('text');
    const refused = await post(user.token, CREATE_ENDPOINT, { input: { url: 'https://example.com:0/hook' } });
    expect(refused.body.data?.createWebhookEndpoint).toEqual(expect.objectContaining({ __typename: 'ValidationError', code: 'VALIDATION', field: 'url' }));
    const taken = await post(user.token, CREATE_ENDPOINT, { input: { url: 'https://example.com:1/hook' } });
    expect((taken.body.data?.createWebhookEndpoint as { __typename: string }).__typename).toBe('CreatedWebhookEndpoint');
  });

  it.each(['abc', '-1', ' 5'])('reminderFired(after: %j) over graphql-ws answers VALIDATION naming `after`', async (after) => {
    const user = await newUser('text');
    const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${user.token}` }, retryAttempts: 0 });
    try {
      const errors = await new Promise<unknown>((resolve) => {
        client.subscribe({ query: 'subscription($after: ID) { reminderFired(after: $after) { id } }', variables: { after } }, {
          next: (value) => resolve(value.errors),
          error: resolve,
          complete: () => resolve('completed without an error'),
        });
      });
      expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'VALIDATION', field: 'after' } })]);
    } finally {
      await client.dispose();
    }
  });
});
