/** The same reminder twice, in sequence or at once, leaves one row and a clear DUPLICATE_REMINDER. */
import { describe, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import { AddReminder, CreateTask, UpdateTask } from './helpers/operations.js';
import { inSeconds, newUser, run, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

async function createTask(user: TestUser, reminders: Array<{ at?: string; secondsBeforeDeadline?: number }> = []) {
  const result = await run(server, user, CreateTask, { input: { title: 'Report', deadline: inSeconds(3600), reminders } });
  if (result.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`setup failed: ${result.createTask.__typename}`);
  return result.createTask.task;
}

async function remindersOf(taskGlobalId: string): Promise<Array<{ trigger_at: Date }>> {
  const taskId = Buffer.from(taskGlobalId, 'base64').toString('utf8').split(':')[1];
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ trigger_at: Date }>('SELECT trigger_at FROM reminders WHERE task_id = $1', [taskId]);
    return rows;
  });
}

describe('duplicate reminders', () => {
  it('rejects the same reminder added twice in sequence', async () => {
    const user = await newUser();
    const task = await createTask(user);
    const at = inSeconds(600);
    const first = await run(server, user, AddReminder, { taskId: task.id, reminder: { at } });
    expect(first.addReminder.__typename).toBe('AddReminderSuccess');
    const second = await run(server, user, AddReminder, { taskId: task.id, reminder: { at } });
    expect(second.addReminder).toMatchObject({ __typename: 'DuplicateReminderError', code: 'DUPLICATE_REMINDER', triggerAt: at });
    expect(await remindersOf(task.id)).toHaveLength(1);
  });

  it('treats an absolute and a relative reminder at the same moment as the same reminder', async () => {
    const user = await newUser();
    const task = await createTask(user);
    const at = new Date(new Date(task.deadline).getTime() - 300_000).toISOString();
    await run(server, user, AddReminder, { taskId: task.id, reminder: { at } });
    const second = await run(server, user, AddReminder, { taskId: task.id, reminder: { secondsBeforeDeadline: 300 } });
    expect(second.addReminder).toMatchObject({ code: 'DUPLICATE_REMINDER' });
    expect(await remindersOf(task.id)).toHaveLength(1);
  });

  it('lets exactly one of many concurrent identical requests through', async () => {
    const user = await newUser();
    const task = await createTask(user);
    const at = inSeconds(900);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => run(server, user, AddReminder, { taskId: task.id, reminder: { at } })),
    );
    const typenames = results.map((result) => result.addReminder.__typename);
    expect(typenames.filter((name) => name === 'AddReminderSuccess')).toHaveLength(1);
    expect(typenames.filter((name) => name === 'DuplicateReminderError')).toHaveLength(11);
    expect(await remindersOf(task.id)).toHaveLength(1);
  });

  it('rejects a createTask that lists the same moment twice, writing nothing', async () => {
    const user = await newUser();
    const deadline = inSeconds(3600);
    const at = new Date(new Date(deadline).getTime() - 60_000).toISOString();
    const result = await run(server, user, CreateTask, {
      input: { title: 'Twice', deadline, reminders: [{ at }, { secondsBeforeDeadline: 60 }] },
    });
    expect(result.createTask).toMatchObject({ __typename: 'DuplicateReminderError', code: 'DUPLICATE_REMINDER' });
    const count = await withPgClient((client) =>
      client.query('SELECT 1 FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1', [user.subject]),
    );
    expect(count.rowCount).toBe(0);
  });

  it('rejects a deadline move that would land a relative reminder on an absolute one, changing nothing', async () => {
    const user = await newUser();
    const task = await createTask(user, [{ secondsBeforeDeadline: 600 }]);
    const absolute = new Date(new Date(task.deadline).getTime() - 300_000).toISOString();
    await run(server, user, AddReminder, { taskId: task.id, reminder: { at: absolute } });
    // The relative reminder sits 10 minutes before the deadline and the absolute one 5 minutes
    // before it: moving the deadline 5 minutes later puts the relative one exactly on the absolute.
    const newDeadline = new Date(new Date(task.deadline).getTime() + 300_000).toISOString();
    const result = await run(server, user, UpdateTask, { id: task.id, input: { deadline: newDeadline } });
    expect(result.updateTask).toMatchObject({ code: 'DUPLICATE_REMINDER' });
    const rows = await remindersOf(task.id);
    expect(rows.map((row) => row.trigger_at.getTime()).sort()).toEqual(
      [new Date(task.deadline).getTime() - 600_000, new Date(absolute).getTime()].sort(),
    );
  });
});

describe('the database itself', () => {
  it('refuses a duplicate (task, trigger time) row even when the API is bypassed', async () => {
    const user = await newUser();
    const task = await createTask(user, [{ secondsBeforeDeadline: 60 }]);
    const taskId = Buffer.from(task.id, 'base64').toString('utf8').split(':')[1];
    const [reminder] = task.reminders;
    await expect(
      withPgClient((client) =>
        client.query('INSERT INTO reminders (task_id, trigger_at) VALUES ($1, $2)', [taskId, reminder?.triggerAt]),
      ),
    ).rejects.toThrow(/reminders_task_id_trigger_at_key/);
  });
});
