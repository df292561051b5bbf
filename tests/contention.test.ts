/**
 * Contention without 500s (issue 8, item 9): 300 concurrent updateTask calls on one task, each
 * moving the deadline (which moves the relative reminders in the same transaction). Every answer
 * is a success or the typed, retryable BusyError; none is "Unexpected error."; the task ends in the
 * state of exactly one successful request, with its reminders moved along; another user's
 * requests sent during the storm all succeed.
 */
import { describe, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import { CreateTask, UpdateTask } from './helpers/operations.js';
import { graphql } from './gql/index.js';
import { execute, newUser, run, useServer } from './helpers/server.js';

const server = useServer();

const ContentionUpdate = graphql(`
  mutation ContentionUpdate($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) {
      __typename
      ... on UpdateTaskSuccess {
        task {
          id
          title
          deadline
        }
      }
      ... on Error {
        code
        message
      }
      ... on BusyError {
        retryAfterSeconds
      }
    }
  }
`);

describe('300 concurrent updateTask calls on one task', () => {
  it('answers each with success or BUSY (retryable), never an internal error, and leaves one request\'s state', async () => {
    const user = await newUser('storm');
    const base = Date.now() + 24 * 3600 * 1000;
    const created = await run(server, user, CreateTask, {
      input: { title: 'storm', deadline: new Date(base).toISOString(), reminders: [{ secondsBeforeDeadline: 600 }, { secondsBeforeDeadline: 1200 }] },
    });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(created.createTask.__typename);
    const id = created.createTask.task.id;

    // Request i sets title "storm i" and a deadline i minutes after the base.
    const deadlineOf = (index: number) => new Date(base + index * 60_000).toISOString();
    const storm = Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        execute(server, user.token, ContentionUpdate, { id, input: { title: `storm ${index}`, deadline: deadlineOf(index) } }),
      ),
    );
    // Another user, during the storm: their changes are not caught in it.
    const bystander = await newUser('bystander');
    const bystanderAnswers = await Promise.all(
      Array.from({ length: 5 }, (_, index) => run(server, bystander, CreateTask, { input: { title: `aside ${index}`, deadline: new Date(base).toISOString() } })),
    );
    const answers = await storm;
    expect(bystanderAnswers.map((answer) => answer.createTask.__typename)).toEqual(Array(5).fill('CreateTaskSuccess'));

    const internal = answers.filter((answer) => answer.errors?.length || answer.status !== 200);
    expect(internal.map((answer) => JSON.stringify(answer.errors ?? answer.status))).toEqual([]);
    const kinds = new Map<string, number>();
    for (const answer of answers) {
      const typename = answer.data?.updateTask.__typename ?? 'none';
      kinds.set(typename, (kinds.get(typename) ?? 0) + 1);
    }
    expect([...kinds.keys()].filter((kind) => kind !== 'UpdateTaskSuccess' && kind !== 'BusyError')).toEqual([]);
    for (const answer of answers) {
      const result = answer.data?.updateTask;
      if (result?.__typename === 'BusyError') {
        expect(result.code).toBe('BUSY');
        expect(result.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      }
    }
    const successes = answers.flatMap((answer) => (answer.data?.updateTask.__typename === 'UpdateTaskSuccess' ? [answer.data.updateTask.task] : []));
    expect(successes.length).toBeGreaterThan(0);
    console.info(`contention: ${JSON.stringify(Object.fromEntries(kinds))}`);

    // The stored state is exactly one successful request's: its title with its deadline, and the
    // relative reminders 600 s and 1200 s before that deadline.
    const state = await withPgClient(async (client) => {
      const task = await client.query<{ title: string; deadline: Date }>('SELECT title, deadline FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1', [user.subject]);
      const reminders = await client.query<{ trigger_at: Date }>(
        'SELECT r.trigger_at FROM reminders r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = t.owner_id WHERE u.subject = $1 ORDER BY r.trigger_at',
        [user.subject],
      );
      return { task: task.rows, reminders: reminders.rows.map((row) => row.trigger_at.getTime()) };
    });
    expect(state.task).toHaveLength(1);
    const final = state.task[0]!;
    const index = Number(final.title.replace('storm ', ''));
    expect(successes.map((task) => task.title)).toContain(final.title);
    expect(final.deadline.toISOString()).toBe(deadlineOf(index));
    expect(state.reminders).toEqual([final.deadline.getTime() - 1_200_000, final.deadline.getTime() - 600_000]);

    // BUSY is retryable: the same request, retried once the storm is over, succeeds.
    const busy = answers.findIndex((answer) => answer.data?.updateTask.__typename === 'BusyError');
    if (busy >= 0) {
      const retried = await run(server, user, UpdateTask, { id, input: { title: `storm ${busy}`, deadline: deadlineOf(busy) } });
      expect(retried.updateTask.__typename).toBe('UpdateTaskSuccess');
    }
  });
});
