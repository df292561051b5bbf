/**
 * Changes to tasks. Each function is one transaction (transactions.ts): it checks the input's
 * shape, then, inside the transaction and against the database's clock, its times; it locks what
 * it changes and either applies everything or nothing.
 */
import type { Database } from '../db/client.js';
import type { Task } from '../generated/prisma/client.js';
import { DuplicateReminderError, ErrorCode, ScheduleError, TaskNotActiveError, TooManyTasksError, ValidationError } from './errors.js';
import { lockOwnedTask } from './ownership.js';
import { retimeLocalReminders, specColumns } from './local-reminders.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { planSeries } from './recurrence.js';
import { rejectingDuplicateReminders } from './reminders.js';
import { createSeries, horizonFrom, notifyDeadline, onOccurrenceFinished } from './series.js';
import { inTaskTransaction } from './task-queue.js';
import { parseTimeZone, viewerTimeZone } from './time-zones.js';
import { inTransaction, type Transaction } from './transactions.js';
import type { CreateTaskInput, UpdateTaskInput, Viewer } from './types.js';
import {
  checkDeadline,
  checkReminderCount,
  checkTrigger,
  descriptionSchema,
  parseOrThrow,
  reminderListSchema,
  titleSchema,
  toReminderSpec,
  triggerTimeOf,
} from './validation.js';

/**
 * Creates a task with its reminders: all of them, or, if any one is invalid, nothing. Refused with
 * TOO_MANY_TASKS when the user already has `policy.maxActiveTasksPerUser` active tasks. With a
 * recurrence rule the task is the first occurrence of a new series (series.ts), and its deadline
 * the rule's first occurrence at or after `input.deadline`.
 */
export async function createTask(db: Database, viewer: Viewer, input: CreateTaskInput, policy: DomainPolicy = DEFAULT_POLICY): Promise<Task> {
  const title = parseOrThrow(titleSchema, input.title, 'title');
  const description = parseOrThrow(descriptionSchema, input.description, 'description');
  const specs = parseOrThrow(reminderListSchema, input.reminders ?? [], 'reminders').map(toReminderSpec);
  checkReminderCount(specs.length, 'reminders');
  const ownZone = input.timeZone != null ? parseTimeZone(input.timeZone, 'timeZone') : null;
  return rejectingDuplicateReminders(() =>
    inTransaction(db, policy.transactions, async (tx, now) => {
      checkDeadline(input.deadline, now);
      const timeZone = ownZone ?? (await viewerTimeZone(tx, viewer));
      const plan = input.recurrence ? planSeries(input.recurrence.rule, timeZone, input.deadline, horizonFrom(now)) : null;
      const deadline = plan?.first.deadline ?? input.deadline;
      if (plan) checkDeadline(deadline, now);
      const seen = new Set<number>();
      const reminders = specs.map((spec, index) => {
        const triggerAt = triggerTimeOf(spec, deadline, timeZone);
        checkTrigger(triggerAt, deadline, now, `reminders.${index}`);
        if (seen.has(triggerAt.getTime())) throw new DuplicateReminderError(triggerAt);
        seen.add(triggerAt.getTime());
        return { triggerAt, ...specColumns(spec) };
      });
      await checkActiveTaskQuota(tx, viewer, policy.maxActiveTasksPerUser);
      const series = plan ? await createSeries(tx, viewer, plan, timeZone) : null;
      if (series) await notifyDeadline(tx, deadline);
      return tx.task.create({
        data: {
          ownerId: viewer.userId,
          title,
          description: description ?? null,
          deadline,
          timeZone,
          ...(series && plan ? { seriesId: series.id, occurrence: plan.first.number } : {}),
          reminders: { create: reminders },
        },
      });
    }),
  );
}

/**
 * Refuses a new active task beyond the user's quota. The user's row lock makes concurrent creates
 * of one user count one after another, so the quota holds under any concurrency.
 */
async function checkActiveTaskQuota(tx: Transaction, viewer: Viewer, limit: number): Promise<void> {
  if (limit === 0) return;
  await tx.$queryRaw`SELECT id FROM users WHERE id = ${viewer.userId}::uuid FOR UPDATE`;
  const active = await tx.task.count({ where: { ownerId: viewer.userId, status: 'ACTIVE' } });
  if (active >= limit) throw new TooManyTasksError(limit);
}

/**
 * Changes a task's title, description or deadline. A moved deadline carries its relative
 * reminders along; if that would put one in the past, or leave an absolute reminder after the new
 * deadline, nothing changes and the error names the reminder.
 */
export async function updateTask(
  db: Database,
  viewer: Viewer,
  taskId: string,
  input: UpdateTaskInput,
  policy: DomainPolicy = DEFAULT_POLICY,
): Promise<Task> {
  // Left out means unchanged; an explicit null cannot clear a title or a deadline (both required).
  for (const field of ['title', 'deadline'] as const) {
    if (input[field] === null) throw new ValidationError(`${field} cannot be null: leave it out to keep it`, field);
  }
  const title = input.title == null ? undefined : parseOrThrow(titleSchema, input.title, 'title');
  const description = input.description === undefined ? undefined : parseOrThrow(descriptionSchema, input.description, 'description');
  const deadline = input.deadline ?? undefined;
  return rejectingDuplicateReminders(() =>
    inTaskTransaction(db, viewer, taskId, policy, async (tx, now) => {
      if (deadline !== undefined) checkDeadline(deadline, now);
      const task = await lockOwnedTask(tx, viewer, taskId);
      if (task.status !== 'ACTIVE') throw new TaskNotActiveError(task.status);
      const moved = deadline !== undefined && deadline.getTime() !== task.deadline.getTime();
      if (moved) {
        const pending = await tx.reminder.findMany({
          where: { taskId, status: 'PENDING' },
          select: { id: true, triggerAt: true, offsetSeconds: true, localDaysBefore: true },
          orderBy: { triggerAt: 'asc' },
        });
        for (const reminder of pending) {
          if (reminder.localDaysBefore !== null) continue; // checked by retimeLocalReminders below
          if (reminder.offsetSeconds === null) {
            if (reminder.triggerAt.getTime() > deadline.getTime()) {
              throw new ScheduleError(
                ErrorCode.TRIGGER_AFTER_DEADLINE,
                `reminder at ${reminder.triggerAt.toISOString()} would be after the new deadline ${deadline.toISOString()}; remove or change it first`,
                'deadline',
                reminder.id,
              );
            }
          } else {
            const triggerAt = triggerTimeOf({ kind: 'relative', secondsBeforeDeadline: reminder.offsetSeconds }, deadline);
            checkTrigger(triggerAt, deadline, now, 'deadline', reminder.id);
          }
        }
      }
      const updated = await tx.task.update({
        where: { id: taskId },
        data: { title, description, deadline },
      });
      if (moved) {
        // One statement for all relative reminders; the unique constraint is checked at its end,
        // so reminders shifting past each other's old times do not collide.
        await tx.$executeRaw`
          UPDATE reminders
          SET trigger_at = ${deadline}::timestamptz - make_interval(secs => offset_seconds), updated_at = now()
          WHERE task_id = ${taskId}::uuid AND status = 'PENDING' AND offset_seconds IS NOT NULL`;
        await retimeLocalReminders(tx, taskId, deadline, task.timeZone, now);
      }
      return updated;
    }),
  );
}

type FinalStatus = 'COMPLETED' | 'CANCELED';

/**
 * Completes or cancels a task and, in the same transaction, cancels every reminder that has not
 * fired, including one a dispatcher is firing right now: its claim no longer matches, so it cannot
 * record the reminder as sent. Repeating the same call is harmless.
 */
async function finishTask(db: Database, viewer: Viewer, taskId: string, status: FinalStatus, policy: DomainPolicy): Promise<Task> {
  return inTaskTransaction(db, viewer, taskId, policy, async (tx, now) => {
    const task = await lockOwnedTask(tx, viewer, taskId);
    if (task.status !== 'ACTIVE' && task.status !== status) throw new TaskNotActiveError(task.status);
    if (task.status === 'ACTIVE') {
      await tx.reminder.updateMany({
        where: { taskId, status: { in: ['PENDING', 'PROCESSING'] } },
        data: { status: 'CANCELED', claimedBy: null, claimedAt: null },
      });
      await onOccurrenceFinished(tx, taskId, status, now);
    }
    return tx.task.update({ where: { id: taskId }, data: { status } });
  });
}

export function completeTask(db: Database, viewer: Viewer, taskId: string, policy: DomainPolicy = DEFAULT_POLICY): Promise<Task> {
  return finishTask(db, viewer, taskId, 'COMPLETED', policy);
}

export function cancelTask(db: Database, viewer: Viewer, taskId: string, policy: DomainPolicy = DEFAULT_POLICY): Promise<Task> {
  return finishTask(db, viewer, taskId, 'CANCELED', policy);
}

/** Deletes a task for good; the database deletes its reminders with it (ON DELETE CASCADE). */
export async function deleteTask(db: Database, viewer: Viewer, taskId: string, policy: DomainPolicy = DEFAULT_POLICY): Promise<string> {
  return inTaskTransaction(db, viewer, taskId, policy, async (tx) => {
    await lockOwnedTask(tx, viewer, taskId);
    await tx.task.delete({ where: { id: taskId } });
    return taskId;
  });
}
