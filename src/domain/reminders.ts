/** Adding and removing a task's reminders, each in one transaction under the task's lock. */
import type { Database } from '../db/client.js';
import type { Reminder } from '../generated/prisma/client.js';
import { DuplicateReminderError, NotFoundError, TaskNotActiveError } from './errors.js';
import { isUuid, lockOwnedTask, ownedReminders } from './ownership.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { isUniqueViolation } from './prisma-errors.js';
import { specColumns } from './local-reminders.js';
import { inTaskTransaction } from './task-queue.js';
import { inTransaction } from './transactions.js';
import type { LocalReminderInput, Viewer } from './types.js';
import { checkReminderCount, checkTrigger, parseOrThrow, reminderSpecSchema, toReminderSpec, triggerTimeOf } from './validation.js';

const REMINDER_UNIQUE_CONSTRAINT = 'reminders_task_id_trigger_at_key';

/**
 * Runs `work`, turning a violation of UNIQUE(task_id, trigger_at) into the client's
 * DUPLICATE_REMINDER, whichever statement raised it. Changes to one task run under its row lock,
 * so the second of two identical requests meets the first's committed row: one row, and a clear
 * answer for the loser.
 */
export async function rejectingDuplicateReminders<T>(work: () => Promise<T>, triggerAt: () => Date | null = () => null): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUniqueViolation(error, REMINDER_UNIQUE_CONSTRAINT)) throw new DuplicateReminderError(triggerAt());
    throw error;
  }
}

export async function addReminder(
  db: Database,
  viewer: Viewer,
  taskId: string,
  input: { at?: Date | null; secondsBeforeDeadline?: number | null; local?: LocalReminderInput | null },
  policy: DomainPolicy = DEFAULT_POLICY,
): Promise<Reminder> {
  const spec = toReminderSpec(parseOrThrow(reminderSpecSchema, input, 'reminder'));
  let triggerAt: Date | null = null;
  return rejectingDuplicateReminders(
    () =>
      inTaskTransaction(db, viewer, taskId, policy, async (tx, now) => {
        const task = await lockOwnedTask(tx, viewer, taskId);
        if (task.status !== 'ACTIVE') throw new TaskNotActiveError(task.status);
        triggerAt = triggerTimeOf(spec, task.deadline, task.timeZone);
        checkTrigger(triggerAt, task.deadline, now, 'reminder');
        checkReminderCount((await tx.reminder.count({ where: { taskId } })) + 1, 'reminder');
        return tx.reminder.create({
          data: { taskId, triggerAt, ...specColumns(spec) },
        });
      }),
    () => triggerAt,
  );
}

/** Removes one reminder; returns its task's id. */
export async function removeReminder(db: Database, viewer: Viewer, reminderId: string, policy: DomainPolicy = DEFAULT_POLICY): Promise<string> {
  if (!isUuid(reminderId)) throw new NotFoundError('Reminder');
  return inTransaction(db, policy.transactions, async (tx) => {
    const reminder = await tx.reminder.findFirst({
      where: { id: reminderId, ...ownedReminders(viewer) },
      select: { taskId: true },
    });
    if (!reminder) throw new NotFoundError('Reminder');
    await lockOwnedTask(tx, viewer, reminder.taskId);
    const { count } = await tx.reminder.deleteMany({ where: { id: reminderId } });
    if (count === 0) throw new NotFoundError('Reminder');
    return reminder.taskId;
  });
}
