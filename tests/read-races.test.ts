/**
 * Reads racing deletes (and cancels, completes) of the rows they read. A read whose nested selection
 * is loaded by a second statement (Prisma's per-relation queries, Pothos' fallback load of a relation
 * the first statement did not plan, `node(id)`) can find the parent row gone between the two. The
 * promise: every answer is either the data or a typed error with a code, never the masked
 * "Unexpected error." and never a 500 (src/graphql/plugins/vanished-rows.ts).
 *
 * Two readers loop over the query shapes below, on the task being changed, while a writer deletes,
 * cancels or completes the same user's tasks one by one; counts of answers (never time) pace the
 * writer and end the readers. Before the fix, 15 to 21 of 542 reads answered "Unexpected error."
 * while the writer deleted (none while it cancelled or completed).
 */
import { describe, expect, it } from 'vitest';
import { inSeconds, newUser, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

interface Answer {
  status: number;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function post(user: TestUser, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on CreateTaskSuccess { task { id reminders { id } } } } }`;

/** Query shapes whose nested selection is read by a statement after the one that found the parent. */
const SHAPES: Record<string, (ids: { task: string; reminder: string }) => { query: string; variables?: Record<string, unknown> }> = {
  // The page through Prisma: tasks, then their reminders, then each reminder's task.
  'tasks > reminders > task': () => ({ query: '{ tasks(first: 20) { edges { cursor node { id reminders { id task { id title } } } } } }' }),
  // The page through Prisma for a field the one-statement read does not cover (the series).
  'tasks > recurrence, reminders': () => ({ query: '{ tasks(first: 20) { edges { node { id recurrence { rule } reminders { id status } } } } }' }),
  'tasks > reminders > snoozedFrom': () => ({ query: '{ tasks(first: 20) { edges { node { id reminders { id snoozedFrom { id } } } } } }' }),
  'task(id) > reminders > task > reminders': ({ task }) => ({
    query: 'query($id: ID!) { task(id: $id) { __typename ... on TaskSuccess { task { id reminders { id task { id reminders { id } } } } } ... on Error { code } } }',
    variables: { id: task },
  }),
  'node(task) > reminders > task': ({ task }) => ({
    query: 'query($id: ID!) { node(id: $id) { id ... on Task { title reminders { id task { id status } } } } }',
    variables: { id: task },
  }),
  // A mutation's payload is read after its commit: the task's reminders by Pothos' fallback load.
  'updateTask payload > reminders > task': ({ task }) => ({
    query:
      'mutation($id: ID!) { updateTask(id: $id, input: { description: "read race" }) { __typename ... on UpdateTaskSuccess { task { id reminders { id task { id } } } } ... on Error { code } } }',
    variables: { id: task },
  }),
  // A field with a `select` (the series) loads through the same fallback.
  'updateTask payload > recurrence, reminders': ({ task }) => ({
    query:
      'mutation($id: ID!) { updateTask(id: $id, input: { description: "read race" }) { __typename ... on UpdateTaskSuccess { task { id recurrence { rule } reminders { id kind } } } ... on Error { code } } }',
    variables: { id: task },
  }),
  'tasks > timeZone, reminders > task': () => ({ query: '{ tasks(first: 20) { edges { node { id timeZone reminders { id task { id } } } } } }' }),
  'node(reminder) > task > reminders': ({ reminder }) => ({
    query: 'query($id: ID!) { node(id: $id) { id ... on Reminder { triggerAt task { id reminders { id triggerAt } } } } }',
    variables: { id: reminder },
  }),
};

const TASKS = 60;

async function createTasks(user: TestUser, count: number): Promise<Array<{ task: string; reminder: string }>> {
  const created: Array<{ task: string; reminder: string }> = [];
  for (let index = 0; index < count; index += 1) {
    const answer = await post(user, CREATE, {
      input: {
        title: `task ${index}`,
        deadline: inSeconds(7 * 24 * 3600 + index * 60),
        reminders: [{ secondsBeforeDeadline: 3600 }, { secondsBeforeDeadline: 7200 }, { at: inSeconds(3600 + index) }],
        ...(index % 3 === 0 ? { recurrence: { rule: 'FREQ=DAILY;COUNT=3' } } : {}),
      },
    });
    const task = (answer.body.data as { createTask: { task: { id: string; reminders: Array<{ id: string }> } } }).createTask.task;
    created.push({ task: task.id, reminder: task.reminders[0]?.id ?? '' });
  }
  return created;
}

/** Every answer that is not data-or-typed-error, by shape. */
interface Failures {
  reads: number;
  bad: Array<{ shape: string; status: number; errors: unknown }>;
}

function judge(shape: string, answer: Answer, failures: Failures): void {
  failures.reads += 1;
  const untyped = (answer.body.errors ?? []).filter((error) => error.message === 'Unexpected error.' || typeof error.extensions?.code !== 'string');
  if (answer.status >= 500 || untyped.length > 0) failures.bad.push({ shape, status: answer.status, errors: answer.body.errors });
}

describe('reads racing deletes of what they read', () => {
  it.each([
    ['deleteTask', 'mutation($id: ID!) { deleteTask(id: $id) { __typename } }'],
    ['cancelTask', 'mutation($id: ID!) { cancelTask(id: $id) { __typename } }'],
    ['completeTask', 'mutation($id: ID!) { completeTask(id: $id) { __typename } }'],
  ])('every read answers data or a typed error while the writer runs %s', async (_name, change) => {
    const user = await newUser('read-race');
    const rows = await createTasks(user, TASKS);
    const failures: Failures = { reads: 0, bad: [] };
    const shapes = Object.entries(SHAPES);
    // The writer moves to the next row once the readers have read as many answers as there are
    // shapes since it started on this one: every shape meets every change, whatever the speeds.
    let wakeWriter: () => void = () => {};
    const readsReach = (target: number) =>
      new Promise<void>((resolve) => {
        const check = () => (failures.reads >= target ? resolve() : void (wakeWriter = check));
        check();
      });
    let writerDone = false;
    let changing = 0;
    const writer = (async () => {
      try {
        for (const [index, row] of rows.entries()) {
          changing = index;
          const answer = await post(user, change, { id: row.task });
          expect(answer.body.errors).toBeUndefined();
          await readsReach((index + 1) * shapes.length);
        }
      } finally {
        writerDone = true;
      }
    })();
    // Two readers, so reads overlap the writer's changes from both sides.
    const reader = async (offset: number) => {
      for (let round = offset; !writerDone; round += 1) {
        const [shape, build] = shapes[round % shapes.length]!;
        // The row the writer is changing: where the race is.
        const { query, variables } = build(rows[changing]!);
        judge(shape, await post(user, query, variables), failures);
        wakeWriter();
      }
    };
    await Promise.all([writer, reader(0), reader(Math.floor(shapes.length / 2))]);
    const byShape = new Map<string, number>();
    for (const each of failures.bad) byShape.set(each.shape, (byShape.get(each.shape) ?? 0) + 1);
    expect(failures.reads).toBeGreaterThanOrEqual(TASKS * shapes.length);
    expect(failures.bad, `${failures.bad.length} of ${failures.reads} reads failed: ${JSON.stringify([...byShape])}\n${JSON.stringify(failures.bad.slice(0, 3))}`).toEqual([]);
  });
});
