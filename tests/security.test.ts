/**
 * Security properties of the running server, checked from the outside over real HTTP and
 * WebSocket connections:
 *
 * 1. Ownership: another user's task or reminder is indistinguishable from one that never existed,
 *    for every lookup and mutation, and attempts on it change nothing.
 * 2. Malformed ids read as "not found", never as an internal error.
 * 3. HTTP authentication: missing, forged, expired, unsigned and malformed credentials.
 * 4. graphql-ws authentication and ownership on the same path.
 *
 * Every test makes its own users with newUser(), so tests never see each other's data.
 */
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import type { TaskFilter } from './gql/graphql.js';
import { graphql } from './gql/index.js';
import { withPgClient } from './helpers/database.js';
import {
  AddReminder,
  CancelTask,
  CompleteTask,
  CreateTask,
  DeleteTask,
  GetNode,
  GetTask,
  ListTasks,
  RemoveReminder,
  UpdateTask,
  Viewer,
} from './helpers/operations.js';
import {
  TEST_JWT_SECRET,
  execute,
  inSeconds,
  newUser,
  run,
  useServer,
  type GraphQLResponse,
  type TestUser,
} from './helpers/server.js';

const server = useServer();

// ---------------------------------------------------------------------------------------------
// Operations only this file needs
// ---------------------------------------------------------------------------------------------

/** A task by id, and the caller's task list, in one round trip. */
const ProbeTask = graphql(`
  query ProbeTask($id: ID!) {
    task(id: $id) {
      __typename
      ... on TaskSuccess {
        task {
          id
          title
        }
      }
      ... on Error {
        code
        message
      }
    }
    tasks(first: 100) {
      edges {
        node {
          id
        }
      }
    }
  }
`);

/** A task's reminders, reached through the task of one of them. */
const ReminderWithTask = graphql(`
  query ReminderWithTask($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Reminder {
        status
        task {
          id
          title
        }
      }
    }
  }
`);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function globalId(typename: string, id: string): string {
  return Buffer.from(`${typename}:${id}`, 'utf8').toString('base64');
}

/** The uuid inside a Task or Reminder global id. */
function databaseId(id: string, typename: 'Task' | 'Reminder'): string {
  const decoded = Buffer.from(id, 'base64').toString('utf8');
  const prefix = `${typename}:`;
  if (!decoded.startsWith(prefix)) throw new Error(`"${id}" is not a ${typename} id (decodes to "${decoded}")`);
  return decoded.slice(prefix.length);
}

/** A well-formed global id of `typename` that no row has. */
function neverExisting(typename: 'Task' | 'Reminder'): string {
  return globalId(typename, randomUUID());
}

interface OwnedTask {
  id: string;
  title: string;
  deadline: string;
  reminderIds: string[];
}

/** A task of `owner` one day out, with a relative and an absolute reminder. */
async function createTaskWithReminders(owner: TestUser): Promise<OwnedTask> {
  const title = `secret plan ${randomUUID()}`;
  const data = await run(server, owner, CreateTask, {
    input: {
      title,
      description: 'only the owner may read this',
      deadline: inSeconds(24 * 3600),
      reminders: [{ secondsBeforeDeadline: 600 }, { at: inSeconds(3600) }],
    },
  });
  if (data.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`createTask failed: ${JSON.stringify(data.createTask)}`);
  const { task } = data.createTask;
  expect(task.reminders).toHaveLength(2);
  return { id: task.id, title: task.title, deadline: task.deadline, reminderIds: task.reminders.map((reminder) => reminder.id) };
}

interface StoredState {
  task: Record<string, unknown> | null;
  reminders: Array<Record<string, unknown>>;
}

/** The task's row and its reminders' rows as stored, every column that a change would touch. */
async function storedState(taskGlobalId: string): Promise<StoredState> {
  const taskId = databaseId(taskGlobalId, 'Task');
  return withPgClient(async (client) => {
    const task = await client.query<Record<string, unknown>>(
      `SELECT id, owner_id, title, description, deadline, status::text AS status, created_at, updated_at
       FROM tasks WHERE id = $1`,
      [taskId],
    );
    const reminders = await client.query<Record<string, unknown>>(
      `SELECT id, task_id, trigger_at, offset_seconds, status::text AS status, attempt, claimed_by, claimed_at,
              fired_at, last_error, updated_at
       FROM reminders WHERE task_id = $1 ORDER BY id`,
      [taskId],
    );
    return { task: task.rows[0] ?? null, reminders: reminders.rows };
  });
}

async function countRows(sql: string, params: unknown[]): Promise<number> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ count: string }>(sql, params);
    return Number(rows[0]?.count ?? 0);
  });
}

/** The owner's own view of the task, through the API. */
async function ownersView(owner: TestUser, taskId: string) {
  const data = await run(server, owner, GetTask, { id: taskId });
  if (data.task.__typename !== 'TaskSuccess') throw new Error(`owner cannot read their task: ${JSON.stringify(data.task)}`);
  return data.task.task;
}

const NOT_FOUND = { __typename: 'NotFoundError', code: 'NOT_FOUND', message: expect.any(String) };

interface HttpAnswer {
  status: number;
  text: string;
  body: GraphQLResponse<Record<string, unknown>> | null;
}

/** Posts one operation with exactly the headers given (no Authorization unless it is among them). */
async function post<TResult, TVariables>(
  headers: Record<string, string>,
  document: TypedDocumentNode<TResult, TVariables>,
  variables?: TVariables,
): Promise<HttpAnswer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...headers,
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const text = await response.text();
  let body: HttpAnswer['body'] = null;
  try {
    body = JSON.parse(text) as GraphQLResponse<Record<string, unknown>>;
  } catch {
    body = null;
  }
  return { status: response.status, text, body };
}

/** Marks of an internal error leaking out: stack frames, SQL, driver or ORM names. */
const LEAK_PATTERNS: RegExp[] = [
  /\bat\s+\S+\s+\(/, // "at fn (file:line:col)"
  /\.(ts|js):\d+/,
  /stack/i,
  /\bSELECT\b|\bINSERT\b|\bUPDATE\s+\w+\s+SET\b|\bFROM\s+"?(tasks|users|reminders)/i,
  /prisma|postgres|pg_|sqlstate|P20\d\d/i,
  /originalError/i,
];

function expectNoLeak(text: string): void {
  for (const pattern of LEAK_PATTERNS) expect(text, `response leaks ${pattern}`).not.toMatch(pattern);
}

function base64url(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** An unsigned JWT ("alg": "none") for `subject` that would otherwise be valid for an hour. */
function unsignedToken(subject: string, alg = 'none'): string {
  const header = base64url(JSON.stringify({ alg, typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ sub: subject, iat: nowSeconds(), exp: nowSeconds() + 3600 }));
  return `${header}.${payload}.`;
}

/** Bad credentials, each with the subject it claims (to check no user row is made for it). */
async function badCredentials(): Promise<Array<{ name: string; authorization: string; subject: string | null }>> {
  const subject = (name: string) => `intruder-${name}-${randomUUID()}`;
  const forged = subject('forged');
  const expired = subject('expired');
  const none = subject('none');
  const noneUpper = subject('none-upper');
  const hs512 = subject('hs512');
  const noExp = subject('no-exp');
  const tampered = subject('tampered');
  const farExp = subject('far-exp');
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);

  // A genuine token whose payload is swapped for another subject's: the signature no longer matches.
  const genuine = await signToken(TEST_JWT_SECRET, `genuine-${randomUUID()}`);
  const [genuineHeader, , genuineSignature] = genuine.split('.');
  const tamperedPayload = base64url(JSON.stringify({ sub: tampered, iat: nowSeconds(), exp: nowSeconds() + 3600 }));

  return [
    { name: 'forged (signed with another secret)', authorization: `Bearer ${await signToken('not-the-server-secret', forged)}`, subject: forged },
    { name: 'expired', authorization: `Bearer ${await signToken(TEST_JWT_SECRET, expired, { expiresIn: nowSeconds() - 60 })}`, subject: expired },
    { name: 'alg "none"', authorization: `Bearer ${unsignedToken(none)}`, subject: none },
    { name: 'alg "NONE"', authorization: `Bearer ${unsignedToken(noneUpper, 'NONE')}`, subject: noneUpper },
    {
      name: 'alg HS512 with the right secret',
      authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject(hs512).setIssuedAt().setExpirationTime('1h').sign(secret)}`,
      subject: hs512,
    },
    {
      name: 'no exp claim',
      authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(noExp).setIssuedAt().sign(secret)}`,
      subject: noExp,
    },
    {
      name: 'sub of only whitespace',
      authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(' \t ').setIssuedAt().setExpirationTime('1h').sign(secret)}`,
      subject: ' \t ',
    },
    {
      name: 'exp past what a Date holds',
      authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(farExp).setIssuedAt().setExpirationTime(1e13).sign(secret)}`,
      subject: farExp,
    },
    { name: 'tampered payload', authorization: `Bearer ${genuineHeader}.${tamperedPayload}.${genuineSignature}`, subject: tampered },
    { name: 'garbage token', authorization: 'Bearer not.a.jwt', subject: null },
    { name: '"Basic" scheme', authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`, subject: null },
    { name: '"Bearer" with nothing', authorization: 'Bearer', subject: null },
    { name: '"Bearer" with two tokens', authorization: `Bearer ${genuine} ${genuine}`, subject: null },
    { name: 'bare token without scheme', authorization: genuine, subject: null },
  ];
}

async function userRowExists(subject: string): Promise<boolean> {
  return (await countRows('SELECT count(*) FROM users WHERE subject = $1', [subject])) > 0;
}

// ---------------------------------------------------------------------------------------------
// 1. Ownership over HTTP
// ---------------------------------------------------------------------------------------------

interface IntrusionCase {
  name: string;
  /** Which of A's ids the intruder uses, and so the type of the never-existing id to compare with. */
  target: 'Task' | 'Reminder';
  /** The top-level field of the response. */
  field: string;
  send: (user: TestUser, id: string) => Promise<GraphQLResponse<unknown>>;
}

const intrusions: IntrusionCase[] = [
  { name: 'task(id)', target: 'Task', field: 'task', send: (user, id) => execute(server, user.token, GetTask, { id }) },
  {
    name: 'updateTask',
    target: 'Task',
    field: 'updateTask',
    send: (user, id) =>
      execute(server, user.token, UpdateTask, {
        id,
        input: { title: 'taken over', description: 'overwritten', deadline: inSeconds(2 * 24 * 3600) },
      }),
  },
  { name: 'completeTask', target: 'Task', field: 'completeTask', send: (user, id) => execute(server, user.token, CompleteTask, { id }) },
  { name: 'cancelTask', target: 'Task', field: 'cancelTask', send: (user, id) => execute(server, user.token, CancelTask, { id }) },
  { name: 'deleteTask', target: 'Task', field: 'deleteTask', send: (user, id) => execute(server, user.token, DeleteTask, { id }) },
  {
    name: 'addReminder on the task',
    target: 'Task',
    field: 'addReminder',
    send: (user, id) => execute(server, user.token, AddReminder, { taskId: id, reminder: { secondsBeforeDeadline: 30 } }),
  },
  {
    name: 'removeReminder of a reminder',
    target: 'Reminder',
    field: 'removeReminder',
    send: (user, id) => execute(server, user.token, RemoveReminder, { id }),
  },
];

describe("ownership: user B against user A's task and reminders", () => {
  it.each(intrusions)('$name answers NOT_FOUND exactly as for a never-existing id, and changes nothing', async (intrusion) => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const before = await storedState(task.id);
    const aliceViewBefore = await ownersView(alice, task.id);
    expect(before.task).not.toBeNull();
    expect(before.reminders).toHaveLength(2);

    const alicesId = intrusion.target === 'Task' ? task.id : task.reminderIds[0]!;
    const onAlices = await intrusion.send(bob, alicesId);
    const onNothing = await intrusion.send(bob, neverExisting(intrusion.target));

    expect(onAlices).toStrictEqual({ status: 200, data: { [intrusion.field]: NOT_FOUND } });
    // Indistinguishable from an id that never existed: same status, same data, same (absent) errors.
    expect(onAlices).toStrictEqual(onNothing);
    expect(JSON.stringify(onAlices)).not.toContain(databaseId(alicesId, intrusion.target));
    expect(JSON.stringify(onAlices)).not.toContain(task.title);

    // Nothing of Alice's changed, in the database or in her own view of it.
    expect(await storedState(task.id)).toStrictEqual(before);
    const aliceViewAfter = await ownersView(alice, task.id);
    expect(aliceViewAfter).toStrictEqual(aliceViewBefore);
    expect(aliceViewAfter).toMatchObject({ title: task.title, status: 'ACTIVE', deadline: task.deadline });
    expect(aliceViewAfter.reminders.map((reminder) => reminder.status)).toStrictEqual(['PENDING', 'PENDING']);
  });

  it("the same mutations on B's own task do go through (so the NOT_FOUND above is ownership, not a broken call)", async () => {
    const bob = await newUser('bob');
    const own = await createTaskWithReminders(bob);

    const updated = await execute(server, bob.token, UpdateTask, { id: own.id, input: { title: 'renamed' } });
    expect(updated.data?.updateTask).toMatchObject({ __typename: 'UpdateTaskSuccess', task: { id: own.id, title: 'renamed' } });
    const added = await execute(server, bob.token, AddReminder, { taskId: own.id, reminder: { secondsBeforeDeadline: 30 } });
    expect(added.data?.addReminder).toMatchObject({ __typename: 'AddReminderSuccess' });
    const removed = await execute(server, bob.token, RemoveReminder, { id: own.reminderIds[0]! });
    expect(removed.data?.removeReminder).toStrictEqual({ __typename: 'RemoveReminderPayload', removedReminderId: own.reminderIds[0] });
    const completed = await execute(server, bob.token, CompleteTask, { id: own.id });
    expect(completed.data?.completeTask).toMatchObject({ __typename: 'CompleteTaskSuccess', task: { status: 'COMPLETED' } });
    const deleted = await execute(server, bob.token, DeleteTask, { id: own.id });
    expect(deleted.data?.deleteTask).toStrictEqual({ __typename: 'DeleteTaskPayload', deletedTaskId: own.id });
    expect((await storedState(own.id)).task).toBeNull();
  });

  it("B cannot cancel A's task; A's own cancel still cancels A's pending reminders afterwards", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);

    expect((await execute(server, bob.token, CancelTask, { id: task.id })).data?.cancelTask).toStrictEqual(NOT_FOUND);
    expect((await storedState(task.id)).reminders.map((reminder) => reminder.status)).toStrictEqual(['PENDING', 'PENDING']);

    const cancelled = await execute(server, alice.token, CancelTask, { id: task.id });
    expect(cancelled.data?.cancelTask).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELED' } });
    expect((await storedState(task.id)).reminders.map((reminder) => reminder.status)).toStrictEqual(['CANCELED', 'CANCELED']);
  });

  it("node(id) returns null for A's task and A's reminder, exactly as for never-existing ids", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const reminderId = task.reminderIds[0]!;

    // Alice herself can load both, so the ids are real.
    expect((await run(server, alice, GetNode, { id: task.id })).node).toStrictEqual({ __typename: 'Task', id: task.id, title: task.title });
    expect((await run(server, alice, GetNode, { id: reminderId })).node).toMatchObject({ __typename: 'Reminder', id: reminderId });

    for (const [id, typename] of [
      [task.id, 'Task'],
      [reminderId, 'Reminder'],
    ] as const) {
      const onAlices = await execute(server, bob.token, GetNode, { id });
      const onNothing = await execute(server, bob.token, GetNode, { id: neverExisting(typename) });
      expect(onAlices).toStrictEqual({ status: 200, data: { node: null } });
      expect(onAlices).toStrictEqual(onNothing);
    }

    // Nor through the reminder's task relation.
    const viaReminder = await execute(server, bob.token, ReminderWithTask, { id: reminderId });
    expect(viaReminder).toStrictEqual({ status: 200, data: { node: null } });
  });

  it("the tasks connection never lists A's task, with or without filters", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const bobs = await createTaskWithReminders(bob);
    const deadline = new Date(task.deadline).getTime();
    const around = {
      deadlineAfter: new Date(deadline - 1000).toISOString(),
      deadlineBefore: new Date(deadline + 1000).toISOString(),
    };

    // Alice sees her task in the narrow window, so the filter itself matches it.
    const alicesWindow = await run(server, alice, ListTasks, { first: 100, filter: around });
    expect(alicesWindow.tasks.edges.map((edge) => edge.node.id)).toStrictEqual([task.id]);

    const filters: Array<TaskFilter | undefined> = [
      undefined,
      { status: ['ACTIVE', 'COMPLETED', 'CANCELED'] },
      { status: ['ACTIVE'] },
      around,
      { ...around, status: ['ACTIVE'] },
      { deadlineAfter: new Date(Date.now() - 3600_000).toISOString() },
      { deadlineBefore: new Date(Date.now() + 3650 * 24 * 3600_000).toISOString() },
    ];
    for (const filter of filters) {
      const listed = await run(server, bob, ListTasks, { first: 100, filter });
      const ids = listed.tasks.edges.map((edge) => edge.node.id);
      expect(ids, `filter ${JSON.stringify(filter)}`).not.toContain(task.id);
      expect(JSON.stringify(listed)).not.toContain(task.title);
      for (const edge of listed.tasks.edges) {
        expect(edge.node.reminders.map((reminder) => reminder.id)).not.toContain(task.reminderIds[0]);
      }
      // Only Bob's own task, and only when the filter admits it.
      expect(ids.every((id) => id === bobs.id)).toBe(true);
    }
    const unfiltered = await run(server, bob, ListTasks, { first: 100 });
    expect(unfiltered.tasks.edges.map((edge) => edge.node.id)).toStrictEqual([bobs.id]);
  });

  it("a cursor carrying A's task id pages B's list the same before and after A's task is deleted, never showing A's data", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    // Bob has one task before Alice's deadline, one at the same deadline, and one after it.
    const deadline = new Date(task.deadline).getTime();
    const bobIds: string[] = [];
    for (const offset of [-3600, 0, 3600]) {
      const created = await run(server, bob, CreateTask, {
        input: { title: `bob ${offset}`, deadline: new Date(deadline + offset * 1000).toISOString() },
      });
      if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(JSON.stringify(created.createTask));
      bobIds.push(created.createTask.task.id);
    }
    const page = await run(server, bob, ListTasks, { first: 1 });
    const bobsCursor = page.tasks.edges[0]?.cursor;
    if (bobsCursor === undefined) throw new Error('Bob has no first page');
    // Cursors carry a sort key and the row's uuid: put Alice's deadline and uuid in Bob's cursor.
    const decoded = Buffer.from(bobsCursor, 'base64url').toString('utf8');
    const bobsUuid = databaseId(bobIds[0]!, 'Task');
    expect(decoded).toContain(bobsUuid);
    const alicesKey = new Date(deadline).toISOString();
    const crafted = Buffer.from(JSON.stringify(['Task', alicesKey, databaseId(task.id, 'Task')]), 'utf8').toString('base64url');

    // Bob's own cursor pages on to his later tasks, so the crafted cursor below is well-formed.
    const afterOwn = await run(server, bob, ListTasks, { first: 10, after: bobsCursor });
    expect(afterOwn.tasks.edges.map((edge) => edge.node.id)).toStrictEqual([bobIds[1], bobIds[2]]);

    const whileAlicesExists = await execute(server, bob.token, ListTasks, { first: 10, after: crafted });
    expect(JSON.stringify(whileAlicesExists)).not.toContain(task.id);
    expect(JSON.stringify(whileAlicesExists)).not.toContain(task.title);
    // Only Bob's tasks, placed by the cursor's content alone.
    const forwardIds = whileAlicesExists.data?.tasks.edges.map((edge) => edge.node.id) ?? [];
    expect(forwardIds).toContain(bobIds[2]);
    expect(forwardIds).not.toContain(bobIds[0]);
    expect(forwardIds.every((id) => bobIds.includes(id))).toBe(true);

    const deleted = await execute(server, alice.token, DeleteTask, { id: task.id });
    expect(deleted.data?.deleteTask).toMatchObject({ __typename: 'DeleteTaskPayload' });
    // Otherwise the answer would tell Bob that Alice's task exists (or existed).
    expect(await execute(server, bob.token, ListTasks, { first: 10, after: crafted })).toStrictEqual(whileAlicesExists);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Malformed ids
// ---------------------------------------------------------------------------------------------

describe('malformed ids', () => {
  /** Ids that name no Task, given a real reminder id of the same user. */
  function malformedTaskIds(ownReminderId: string): Array<[string, string]> {
    return [
      ['random string', 'definitely-not-an-id'],
      ['empty string', ''],
      ['a Reminder id (of the same user) as task id', ownReminderId],
      ['base64 of "Task:not-a-uuid"', globalId('Task', 'not-a-uuid')],
      ['base64 of "Task:" with nothing', Buffer.from('Task:').toString('base64')],
      ['base64 of a uuid with SQL after it', globalId('Task', `${randomUUID()}' OR '1'='1`)],
      ['a bare uuid', randomUUID()],
      ['a global id of an unknown type', globalId('User', randomUUID())],
      ['invalid base64', '%%%===='],
      ['a very long id', 'A'.repeat(10_000)],
    ];
  }

  it('every task lookup and mutation answers NOT_FOUND, never an internal error', async () => {
    const user = await newUser();
    const task = await createTaskWithReminders(user);
    const before = await storedState(task.id);

    for (const [label, id] of malformedTaskIds(task.reminderIds[0]!)) {
      for (const intrusion of intrusions.filter((candidate) => candidate.target === 'Task')) {
        const response = await intrusion.send(user, id);
        expect(response, `${intrusion.name} with ${label}`).toStrictEqual({ status: 200, data: { [intrusion.field]: NOT_FOUND } });
      }
    }
    expect(await storedState(task.id)).toStrictEqual(before);
  });

  it('removeReminder answers NOT_FOUND for ids that name no reminder, never an internal error', async () => {
    const user = await newUser();
    const task = await createTaskWithReminders(user);
    const before = await storedState(task.id);
    const ids: Array<[string, string]> = [
      ['random string', 'definitely-not-an-id'],
      ['a Task id (of the same user) as reminder id', task.id],
      ['base64 of "Reminder:not-a-uuid"', globalId('Reminder', 'not-a-uuid')],
      ['base64 of "Task:not-a-uuid"', globalId('Task', 'not-a-uuid')],
      ['a bare uuid', randomUUID()],
      ['invalid base64', '%%%===='],
    ];
    for (const [label, id] of ids) {
      const response = await execute(server, user.token, RemoveReminder, { id });
      expect(response, label).toStrictEqual({ status: 200, data: { removeReminder: NOT_FOUND } });
    }
    expect(await storedState(task.id)).toStrictEqual(before);
  });

  it('node(id) answers null without errors for malformed ids', async () => {
    const user = await newUser();
    const task = await createTaskWithReminders(user);
    for (const [label, id] of [
      ...malformedTaskIds(neverExisting('Reminder')),
      ['base64 of "Reminder:not-a-uuid"', globalId('Reminder', 'not-a-uuid')] as [string, string],
    ]) {
      const response = await execute(server, user.token, GetNode, { id });
      expect(response, label).toStrictEqual({ status: 200, data: { node: null } });
    }
    // A well-formed id of the user's own task still resolves.
    expect((await run(server, user, GetNode, { id: task.id })).node).toMatchObject({ __typename: 'Task', id: task.id });
  });

  it('a malformed tasks cursor is refused without leaking internals', async () => {
    const user = await newUser();
    for (const after of ['garbage', Buffer.from('GPC:S:not-a-uuid').toString('base64'), Buffer.from('GPC:not-tagged').toString('base64')]) {
      const answer = await post({ authorization: `Bearer ${user.token}` }, ListTasks, { first: 5, after });
      expectNoLeak(answer.text);
      expect(answer.body?.data ?? null, after).toBeNull();
      expect(answer.body?.errors?.length, after).toBeGreaterThan(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Authentication over HTTP
// ---------------------------------------------------------------------------------------------

describe('HTTP authentication', () => {
  it('a valid bearer token reaches the viewer (control for the refusals below)', async () => {
    const user = await newUser();
    const answer = await post({ authorization: `Bearer ${user.token}` }, Viewer);
    expect(answer.status).toBe(200);
    expect(answer.body?.data).toMatchObject({ viewer: { subject: user.subject } });
  });

  it('without an Authorization header, viewer, tasks and createTask answer UNAUTHENTICATED and write nothing', async () => {
    const title = `anonymous ${randomUUID()}`;
    const usersBefore = await countRows('SELECT count(*) FROM users', []);
    const answers = [
      await post({}, Viewer),
      await post({}, ListTasks, { first: 10 }),
      await post({}, CreateTask, { input: { title, deadline: inSeconds(3600), reminders: [{ secondsBeforeDeadline: 60 }] } }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body?.data ?? null).toBeNull();
      expect(answer.body?.errors?.map((error) => error.extensions?.code)).toStrictEqual(['UNAUTHENTICATED']);
      expectNoLeak(answer.text);
    }
    expect(await countRows('SELECT count(*) FROM tasks WHERE title = $1', [title])).toBe(0);
    expect(await countRows('SELECT count(*) FROM users', [])).toBe(usersBefore);
  });

  it('without an Authorization header, task(id) and node(id) of a real task answer UNAUTHENTICATED, not the task', async () => {
    const owner = await newUser();
    const task = await createTaskWithReminders(owner);
    for (const answer of [await post({}, GetTask, { id: task.id }), await post({}, GetNode, { id: task.id })]) {
      expect(answer.body?.errors?.map((error) => error.extensions?.code)).toStrictEqual(['UNAUTHENTICATED']);
      expect(answer.text).not.toContain(task.title);
    }
  });

  it('bad credentials answer HTTP 401 UNAUTHENTICATED with no stack trace or SQL, and create no user or task', async () => {
    for (const credential of await badCredentials()) {
      const title = `intrusion ${randomUUID()}`;
      const answers = [
        await post({ authorization: credential.authorization }, Viewer),
        await post({ authorization: credential.authorization }, ListTasks, { first: 10 }),
        await post({ authorization: credential.authorization }, CreateTask, { input: { title, deadline: inSeconds(3600) } }),
      ];
      for (const answer of answers) {
        expect(answer.status, credential.name).toBe(401);
        expect(answer.body?.data ?? null, credential.name).toBeNull();
        expect(answer.body?.errors?.map((error) => error.extensions?.code), credential.name).toStrictEqual(['UNAUTHENTICATED']);
        expectNoLeak(answer.text);
      }
      expect(await countRows('SELECT count(*) FROM tasks WHERE title = $1', [title]), credential.name).toBe(0);
      if (credential.subject !== null) expect(await userRowExists(credential.subject), credential.name).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 4. graphql-ws
// ---------------------------------------------------------------------------------------------

function wsClient(connectionParams: Record<string, unknown> | undefined, onClosed?: (code: number) => void): Client {
  return createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams,
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        if (typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number') onClosed?.(event.code);
      },
    },
  });
}

interface WsResult<TResult> {
  data?: TResult | null;
  errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>;
}

/** graphql-ws reports a closed socket as its close event; make it an Error that names the code. */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const reason = 'reason' in error ? String(error.reason) : '';
    return new Error(`the socket closed with ${String(error.code)} ${reason}`);
  }
  return new Error(JSON.stringify(error));
}

/** Runs one operation over graphql-ws and resolves with its single result. */
function wsExecute<TResult, TVariables>(
  client: Client,
  document: TypedDocumentNode<TResult, TVariables>,
  variables?: TVariables,
): Promise<WsResult<TResult>> {
  return new Promise((resolve, reject) => {
    let result: WsResult<TResult> | undefined;
    client.subscribe<TResult>(
      { query: print(document), variables: (variables ?? {}) as Record<string, unknown> },
      {
        next: (value) => {
          result = value as WsResult<TResult>;
        },
        error: (error) => reject(asError(error)),
        complete: () => (result ? resolve(result) : reject(new Error('completed without a result'))),
      },
    );
  });
}

interface RawOutcome {
  /** The close code the socket ended with. */
  code: number;
  messages: Array<{ type?: string }>;
}

/**
 * Opens a raw graphql-transport-ws socket, sends the given first messages, and reports how it closed.
 * No timer: the protocol bounds it. The server answers a connection_init with connection_ack (we then
 * close with 1000) or closes the socket itself (4403 refused, 4401 unauthorized, 4400 invalid), and a
 * socket that never sends connection_init is closed with 4408 after graphql-ws's init timeout. A
 * server that did none of these would hang the test until vitest's test timeout, a failure either way.
 */
function rawSocket(messages: unknown[]): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const received: RawOutcome['messages'] = [];
    socket.on('open', () => {
      for (const message of messages) socket.send(JSON.stringify(message));
    });
    socket.on('message', (data) => {
      received.push(JSON.parse(String(data)) as { type?: string });
      // A successful handshake is all a control test needs; close from our side.
      if (received.at(-1)?.type === 'connection_ack') socket.close(1000);
    });
    socket.on('close', (code) => resolve({ code, messages: received }));
    socket.on('error', reject);
  });
}

describe('graphql-ws authentication', () => {
  it('a valid token in connectionParams runs a query as its own user', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceClient = wsClient({ authorization: `Bearer ${alice.token}` });
    const bobClient = wsClient({ token: bob.token });
    try {
      const [asAlice, asBob] = await Promise.all([wsExecute(aliceClient, Viewer), wsExecute(bobClient, Viewer)]);
      expect(asAlice.errors).toBeUndefined();
      expect(asAlice.data?.viewer.subject).toBe(alice.subject);
      expect(asBob.errors).toBeUndefined();
      expect(asBob.data?.viewer.subject).toBe(bob.subject);
      // And the same user over HTTP is the same viewer.
      expect((await run(server, alice, Viewer)).viewer.id).toBe(asAlice.data?.viewer.id);
    } finally {
      await Promise.all([aliceClient.dispose(), bobClient.dispose()]);
    }
  });

  it('the raw handshake with a valid token is acknowledged (control for the refusals below)', async () => {
    const user = await newUser();
    const outcome = await rawSocket([{ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } }]);
    expect(outcome.messages.map((message) => message.type)).toStrictEqual(['connection_ack']);
    expect(outcome.code).toBe(1000);
  });

  it('no token, or a bad one, closes the socket with 4403 before any acknowledgement', async () => {
    const params: Array<[string, Record<string, unknown> | undefined]> = [
      ['no payload at all', undefined],
      ['empty payload', {}],
      ['authorization: null', { authorization: null }],
      ['authorization as a number', { authorization: 42 }],
    ];
    for (const credential of await badCredentials()) params.push([credential.name, { authorization: credential.authorization }]);
    params.push(['forged token in `token`', { token: await signToken('not-the-server-secret', `intruder-${randomUUID()}`) }]);
    params.push(['unsigned token in `token`', { token: unsignedToken(`intruder-${randomUUID()}`) }]);

    for (const [label, payload] of params) {
      const init = payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload };
      const outcome = await rawSocket([init]);
      expect(outcome.code, label).toBe(4403);
      expect(outcome.messages, label).toStrictEqual([]);
    }
  });

  it('a bad token, and no token, are closed with 4403 as graphql-ws clients see it', async () => {
    for (const connectionParams of [undefined, { authorization: `Bearer ${await signToken('not-the-server-secret', 'intruder')}` }]) {
      let client: Client | undefined;
      const closed = new Promise<number>((resolve) => {
        client = wsClient(connectionParams, resolve);
      });
      expect(await closed).toBe(4403);
      // The client has given up by now (retryAttempts: 0); disposing only marks it done.
      await client?.dispose();
    }
  });

  it('an operation sent before connection_init is not executed', async () => {
    const outcome = await rawSocket([{ type: 'subscribe', id: '1', payload: { query: '{ viewer { id subject } }' } }]);
    expect(outcome.code).toBe(4401);
    expect(outcome.messages).toStrictEqual([]);
  });

  it("user B over graphql-ws cannot see A's task or reminders", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const bobs = await createTaskWithReminders(bob);
    const aliceClient = wsClient({ authorization: `Bearer ${alice.token}` });
    const bobClient = wsClient({ authorization: `Bearer ${bob.token}` });
    try {
      // Alice, over the socket, sees her task: the probe can find it.
      const asAlice = await wsExecute(aliceClient, ProbeTask, { id: task.id });
      expect(asAlice.errors).toBeUndefined();
      expect(asAlice.data?.task).toStrictEqual({ __typename: 'TaskSuccess', task: { id: task.id, title: task.title } });
      expect(asAlice.data?.tasks.edges.map((edge) => edge.node.id)).toStrictEqual([task.id]);

      const onAlices = await wsExecute(bobClient, ProbeTask, { id: task.id });
      const onNothing = await wsExecute(bobClient, ProbeTask, { id: neverExisting('Task') });
      expect(onAlices.errors).toBeUndefined();
      expect(onAlices.data).toStrictEqual({ task: NOT_FOUND, tasks: { edges: [{ node: { id: bobs.id } }] } });
      expect(onAlices).toStrictEqual(onNothing);
      expect(JSON.stringify(onAlices)).not.toContain(task.title);
    } finally {
      await Promise.all([aliceClient.dispose(), bobClient.dispose()]);
    }
  });

  it("user B's mutations over graphql-ws on A's task answer NOT_FOUND like never-existing ids and change nothing", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const before = await storedState(task.id);
    const bobClient = wsClient({ authorization: `Bearer ${bob.token}` });
    try {
      const cancel = await wsExecute(bobClient, CancelTask, { id: task.id });
      expect(cancel).toStrictEqual({ data: { cancelTask: NOT_FOUND } });
      expect(cancel).toStrictEqual(await wsExecute(bobClient, CancelTask, { id: neverExisting('Task') }));
      const remove = await wsExecute(bobClient, RemoveReminder, { id: task.reminderIds[1]! });
      expect(remove).toStrictEqual({ data: { removeReminder: NOT_FOUND } });
      expect(remove).toStrictEqual(await wsExecute(bobClient, RemoveReminder, { id: neverExisting('Reminder') }));
      expect(await storedState(task.id)).toStrictEqual(before);
    } finally {
      await bobClient.dispose();
    }
  });

  it("node(id) over graphql-ws returns null for A's task and reminder, as for never-existing ids", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const task = await createTaskWithReminders(alice);
    const aliceClient = wsClient({ authorization: `Bearer ${alice.token}` });
    const bobClient = wsClient({ authorization: `Bearer ${bob.token}` });
    try {
      const asAlice = await wsExecute(aliceClient, GetNode, { id: task.id });
      expect(asAlice).toStrictEqual({ data: { node: { __typename: 'Task', id: task.id, title: task.title } } });

      for (const [id, typename] of [
        [task.id, 'Task'],
        [task.reminderIds[0]!, 'Reminder'],
      ] as const) {
        const onAlices = await wsExecute(bobClient, GetNode, { id });
        const onNothing = await wsExecute(bobClient, GetNode, { id: neverExisting(typename) });
        expect(onAlices, typename).toStrictEqual({ data: { node: null } });
        expect(onAlices, typename).toStrictEqual(onNothing);
      }
      expect(await wsExecute(bobClient, ReminderWithTask, { id: task.reminderIds[0]! })).toStrictEqual({ data: { node: null } });
    } finally {
      await Promise.all([aliceClient.dispose(), bobClient.dispose()]);
    }
  });
});
