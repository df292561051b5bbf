/**
 * Snoozing a fired reminder: "remind me again at `until`" or "in `seconds`". The snooze is a new
 * absolute reminder pointing at the fired one (`snoozedFromId`), checked like any reminder (in the
 * future, not after the deadline, within the per-task limit). Each fired reminder arms at most one
 * snooze: the task's row lock orders concurrent snoozes, and UNIQUE(snoozed_from_id) stops a
 * second row whatever happens. To snooze again later, snooze the snooze once it has fired.
 */
import type { Database } from '../db/client.js';
import type { Reminder } from '../generated/prisma/client.js';
import { DomainError, ErrorCode, NotFoundError, TaskNotActiveError, ValidationError } from './errors.js';
import { isUuid, lockOwnedTask, ownedReminders } from './ownership.js';
import { isUniqueViolation } from './prisma-errors.js';
import { rejectingDuplicateReminders } from './reminders.js';
import type { Viewer } from './types.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { inTransaction } from './transactions.js';
import { LIMITS, checkReminderCount, checkTrigger } from './validation.js';

const SNOOZE_UNIQUE_INDEX = 'reminders_snoozed_from_id_key';

export class SnoozeError extends DomainError {
  constructor(
    readonly code: typeof ErrorCode.REMINDER_NOT_FIRED | typeof ErrorCode.ALREADY_SNOOZED,
    message: string,
    /** For ALREADY_SNOOZED: the snooze that exists. */
    readonly snoozeId: string | null = null,
  ) {
    super(message);
  }
}

export interface SnoozeInput {
  /** Fire again at this time. */
  until?: Date | null;
  /** Fire again this many seconds from now. */
  seconds?: number | null;
}

/**
 * Arms a new firing of the fired reminder `reminderId`.
 * @returns the new (pending) reminder; a repeated request for the same `until` returns the same one.
 * @throws NotFoundError, ValidationError (exactly one of until/seconds), SnoozeError
 *   (REMINDER_NOT_FIRED, ALREADY_SNOOZED), TaskNotActiveError, ScheduleError (in the past, after the
 *   deadline), DuplicateReminderError, ValidationError TOO_MANY_REMINDERS.
 */
export async function snoozeReminder(db: Database, viewer: Viewer, reminderId: string, input: SnoozeInput, policy: DomainPolicy = DEFAULT_POLICY): Promise<Reminder> {
  if ((input.until == null) === (input.seconds == null)) throw new ValidationError('give exactly one of `until` or `seconds`', null);
  if (input.seconds != null && (!Number.isInteger(input.seconds) || input.seconds < 1 || input.seconds > LIMITS.maxSecondsBeforeDeadline)) {
    throw new ValidationError(`seconds must be a whole number from 1 to ${LIMITS.maxSecondsBeforeDeadline}`, 'seconds');
  }
  if (!isUuid(reminderId)) throw new NotFoundError('Reminder');
  const field = input.until != null ? 'until' : 'seconds';
  let triggerAt: Date | null = input.until ?? null;
  try {
    return await rejectingDuplicateReminders(
      () =>
        inTransaction(db, policy.transactions, async (tx, now) => {
          const at = input.until ?? new Date(now.getTime() + (input.seconds ?? 0) * 1000);
          triggerAt = at;
          const fired = await tx.reminder.findFirst({ where: { id: reminderId, ...ownedReminders(viewer) }, select: { taskId: true } });
          if (!fired) throw new NotFoundError('Reminder');
          const task = await lockOwnedTask(tx, viewer, fired.taskId);
          const reminder = await tx.reminder.findUnique({ where: { id: reminderId }, include: { snoozedBy: true } });
          if (!reminder) throw new NotFoundError('Reminder');
          if (reminder.snoozedBy) {
            if (reminder.snoozedBy.status === 'PENDING' && reminder.snoozedBy.triggerAt.getTime() === at.getTime()) return reminder.snoozedBy;
            throw new SnoozeError(ErrorCode.ALREADY_SNOOZED, 'this reminder is already snoozed', reminder.snoozedBy.id);
          }
          if (reminder.status !== 'SENT') throw new SnoozeError(ErrorCode.REMINDER_NOT_FIRED, `only a fired reminder can be snoozed (this one is ${reminder.status.toLowerCase()})`);
          if (task.status !== 'ACTIVE') throw new TaskNotActiveError(task.status);
          checkTrigger(at, task.deadline, now, field);
          checkReminderCount((await tx.reminder.count({ where: { taskId: task.id } })) + 1, field);
          return tx.reminder.create({ data: { taskId: task.id, triggerAt: at, snoozedFromId: reminderId } });
        }),
      () => triggerAt,
    );
  } catch (error) {
    if (isUniqueViolation(error, SNOOZE_UNIQUE_INDEX)) throw new SnoozeError(ErrorCode.ALREADY_SNOOZED, 'this reminder is already snoozed');
    throw error;
  }
}
