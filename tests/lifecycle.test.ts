/** A task's life: moving its deadline, cancelling, completing, deleting, and listing. */
import { describe, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import {
  AddReminder,
  CancelTask,
  CompleteTask,
  CreateTask,
  DeleteTask,
  GetTask,
  ListTasks,
  RemoveReminder,
  UpdateTask,
} from './helpers/operations.js';
import { inSeconds, newUser, run, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

function databaseId(globalId: string): string {
  const id = Buffer.from(globalId, 'base64').toString('utf8').split(':')[1];
  if (!id) throw new Error(`not a global id: ${globalId}`);
  return id;
}

async function createTask(user: TestUser, deadline: string, reminders: Array<{ at?: string; secondsBeforeDeadline?: number }> = [], title = 'Task') {
  const result = await run(server, user, CreateTask, { input: { title, deadline, reminders } });
  if (result.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`setup failed: ${JSON.stringify(result.createTask)}`);
  return result.createTask.task;
}

async function reminderRows(taskGlobalId: string) {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ id: string; status: string; trigger_at: Date }>(
      'SELECT id, status::text, trigger_at FROM reminders WHERE task_id = $1 ORDER BY trigger_at',
      [databaseId(taskGlobalId)],
    );
    return rows;
  });
}

describe('moving a deadline', () => {
  it('carries relative reminders along and leaves absolute ones where they are', async () => {
    const user = await newUser();
    const absolute = inSeconds(600);
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 900 }, { secondsBeforeDeadline: 1800 }, { at: absolute }]);
    const newDeadline = new Date(new Date(task.deadline).getTime() + 1800_000).toISOString();
    const result = await run(server, user, UpdateTask, { id: task.id, input: { deadline: newDeadline } });
    if (result.updateTask.__typename !== 'UpdateTaskSuccess') throw new Error(JSON.stringify(result.updateTask));
    const byKind = result.updateTask.task.reminders.map((reminder) => [reminder.kind, reminder.triggerAt]);
    const deadlineMs = new Date(newDeadline).getTime();
    expect(byKind).toEqual([
      ['ABSOLUTE', absolute],
      ['RELATIVE', new Date(deadlineMs - 1800_000).toISOString()],
      ['RELATIVE', new Date(deadlineMs - 900_000).toISOString()],
    ]);
  });

  it('shifts relative reminders past each other\'s old times without a false duplicate', async () => {
    const user = await newUser();
    // 10 and 20 minutes before; moving the deadline 10 minutes later puts the 20-minute one where the 10-minute one was.
    // Created in this order so the 20-minute one is stored (and updated) first.
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 1200 }, { secondsBeforeDeadline: 600 }]);
    const newDeadline = new Date(new Date(task.deadline).getTime() + 600_000).toISOString();
    const result = await run(server, user, UpdateTask, { id: task.id, input: { deadline: newDeadline } });
    expect(result.updateTask.__typename).toBe('UpdateTaskSuccess');
    const rows = await reminderRows(task.id);
    expect(rows.map((row) => row.trigger_at.toISOString())).toEqual([
      new Date(new Date(newDeadline).getTime() - 1200_000).toISOString(),
      new Date(new Date(newDeadline).getTime() - 600_000).toISOString(),
    ]);
  });

  it('refuses to strand an absolute reminder after the new deadline, names it, and changes nothing', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(7200), [{ at: inSeconds(5400) }, { secondsBeforeDeadline: 60 }]);
    const stranded = task.reminders.find((reminder) => reminder.kind === 'ABSOLUTE');
    const before = await reminderRows(task.id);
    const result = await run(server, user, UpdateTask, { id: task.id, input: { deadline: inSeconds(3600), title: 'Renamed' } });
    expect(result.updateTask).toMatchObject({
      __typename: 'ScheduleError',
      code: 'TRIGGER_AFTER_DEADLINE',
      reminderId: stranded?.id,
    });
    expect(await reminderRows(task.id)).toEqual(before);
    const after = await run(server, user, GetTask, { id: task.id });
    expect(after.task).toMatchObject({ task: { title: 'Task', deadline: task.deadline } });
  });

  it('refuses a move that would put a relative reminder in the past, naming it', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(7200), [{ secondsBeforeDeadline: 3600 }]);
    const result = await run(server, user, UpdateTask, { id: task.id, input: { deadline: inSeconds(1800) } });
    expect(result.updateTask).toMatchObject({ code: 'TRIGGER_IN_PAST', reminderId: task.reminders[0]?.id });
    expect((await reminderRows(task.id))[0]?.trigger_at.toISOString()).toBe(task.reminders[0]?.triggerAt);
  });

  it('updates title and description, and clears the description with null', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600));
    const described = await run(server, user, UpdateTask, { id: task.id, input: { title: '  Trimmed  ', description: 'notes' } });
    expect(described.updateTask).toMatchObject({ task: { title: 'Trimmed', description: 'notes' } });
    const cleared = await run(server, user, UpdateTask, { id: task.id, input: { description: null } });
    expect(cleared.updateTask).toMatchObject({ task: { title: 'Trimmed', description: null } });
  });
});

describe('deep cancellation', () => {
  it('cancels the task and every reminder that has not fired, in one go', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 60 }, { secondsBeforeDeadline: 120 }, { secondsBeforeDeadline: 180 }]);
    const [sent, processing] = await reminderRows(task.id);
    // One reminder already fired, one is being fired by a dispatcher right now.
    await withPgClient(async (client) => {
      await client.query(`UPDATE reminders SET status = 'SENT', fired_at = now() WHERE id = $1`, [sent?.id]);
      await client.query(
        `UPDATE reminders SET status = 'PROCESSING', claimed_by = 'worker-1', claimed_at = now(), attempt = 1 WHERE id = $1`,
        [processing?.id],
      );
    });
    const result = await run(server, user, CancelTask, { id: task.id });
    expect(result.cancelTask).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELED' } });
    const rows = await reminderRows(task.id);
    expect(rows.find((row) => row.id === sent?.id)?.status).toBe('SENT');
    expect(rows.filter((row) => row.status === 'CANCELED')).toHaveLength(2);
  });

  it('completing a task cancels its pending reminders too', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 60 }]);
    const result = await run(server, user, CompleteTask, { id: task.id });
    expect(result.completeTask).toMatchObject({ task: { status: 'COMPLETED', reminders: [{ status: 'CANCELED' }] } });
  });

  it('repeats harmlessly, and a finished task refuses further changes', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600));
    await run(server, user, CancelTask, { id: task.id });
    const again = await run(server, user, CancelTask, { id: task.id });
    expect(again.cancelTask).toMatchObject({ task: { status: 'CANCELED' } });
    const complete = await run(server, user, CompleteTask, { id: task.id });
    expect(complete.completeTask).toMatchObject({ __typename: 'TaskNotActiveError', code: 'TASK_NOT_ACTIVE' });
    const update = await run(server, user, UpdateTask, { id: task.id, input: { title: 'Nope' } });
    expect(update.updateTask).toMatchObject({ code: 'TASK_NOT_ACTIVE' });
    const add = await run(server, user, AddReminder, { taskId: task.id, reminder: { secondsBeforeDeadline: 60 } });
    expect(add.addReminder).toMatchObject({ code: 'TASK_NOT_ACTIVE' });
  });
});

describe('deleting', () => {
  it('deletes the task and, through the cascade, its reminders', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 60 }, { secondsBeforeDeadline: 120 }]);
    expect(await reminderRows(task.id)).toHaveLength(2);
    const result = await run(server, user, DeleteTask, { id: task.id });
    expect(result.deleteTask).toEqual({ __typename: 'DeleteTaskPayload', deletedTaskId: task.id });
    expect(await reminderRows(task.id)).toHaveLength(0);
    const lookup = await run(server, user, GetTask, { id: task.id });
    expect(lookup.task).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  it('removes a single reminder', async () => {
    const user = await newUser();
    const task = await createTask(user, inSeconds(3600), [{ secondsBeforeDeadline: 60 }, { secondsBeforeDeadline: 120 }]);
    const [first] = task.reminders;
    const result = await run(server, user, RemoveReminder, { id: first?.id ?? '' });
    expect(result.removeReminder).toEqual({ __typename: 'RemoveReminderPayload', removedReminderId: first?.id });
    expect(await reminderRows(task.id)).toHaveLength(1);
    const again = await run(server, user, RemoveReminder, { id: first?.id ?? '' });
    expect(again.removeReminder).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('listing tasks', () => {
  it('sorts by deadline, filters by status and deadline range, and pages', async () => {
    const user = await newUser();
    const late = await createTask(user, inSeconds(9000), [], 'late');
    const early = await createTask(user, inSeconds(3000), [], 'early');
    const middle = await createTask(user, inSeconds(6000), [], 'middle');
    await run(server, user, CancelTask, { id: middle.id });

    const all = await run(server, user, ListTasks, { first: 10 });
    expect(all.tasks.edges.map((edge) => edge.node.title)).toEqual(['early', 'middle', 'late']);

    const active = await run(server, user, ListTasks, { first: 10, filter: { status: ['ACTIVE'] } });
    expect(active.tasks.edges.map((edge) => edge.node.id)).toEqual([early.id, late.id]);

    const window = await run(server, user, ListTasks, {
      first: 10,
      filter: { deadlineAfter: inSeconds(4000), deadlineBefore: late.deadline },
    });
    expect(window.tasks.edges.map((edge) => edge.node.title)).toEqual(['middle']);

    const page1 = await run(server, user, ListTasks, { first: 2 });
    expect(page1.tasks.pageInfo.hasNextPage).toBe(true);
    const page2 = await run(server, user, ListTasks, { first: 2, after: page1.tasks.pageInfo.endCursor });
    expect(page2.tasks.edges.map((edge) => edge.node.title)).toEqual(['late']);
    expect(page2.tasks.pageInfo.hasNextPage).toBe(false);
  });

  it('caps a page at 100 tasks however many are asked for', async () => {
    const user = await newUser();
    await withPgClient(async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO users (subject) VALUES ($1) ON CONFLICT (subject) DO UPDATE SET subject = EXCLUDED.subject RETURNING id`,
        [user.subject],
      );
      await client.query(
        `INSERT INTO tasks (owner_id, title, deadline) SELECT $1, 'bulk ' || n, now() + n * interval '1 minute' FROM generate_series(1, 120) n`,
        [rows[0]?.id],
      );
    });
    const result = await run(server, user, ListTasks, { first: 1000 });
    expect(result.tasks.edges).toHaveLength(100);
    expect(result.tasks.pageInfo.hasNextPage).toBe(true);
  });
});
