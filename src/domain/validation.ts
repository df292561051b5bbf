/**
 * Every rule about what a client may ask for, in one place: the shapes and limits (zod schemas,
 * checked first in each domain function, before any transaction) and the
 * rules about time, which need the clock and the task's deadline.
 */
import { Temporal } from 'temporal-polyfill';
import { z } from 'zod';
import { ScheduleError, ValidationError, ErrorCode } from './errors.js';
import { localTriggerTime } from './local-reminders.js';
import { parseLocalTime } from './time-zones.js';
import type { ReminderSpec } from './types.js';

export const LIMITS = {
  titleLength: 200,
  descriptionLength: 5000,
  remindersPerTask: 25,
  /**
   * A deadline more than this many calendar years ahead is almost certainly a typo (year 20266).
   * Calendar years, not a count of days: from 2026-11-30T10:00Z the last allowed moment is
   * 2036-11-30T10:00Z (from February 29, February 28 ten years on).
   */
  deadlineHorizonYears: 10,
  /**
   * The longest "remind me N seconds before" offset: 3,653 days, the most that 10 calendar years
   * can hold (three leap days). A longer one could never fire after now, so it is malformed input.
   */
  maxSecondsBeforeDeadline: 3653 * 24 * 3600,
} as const;

/** The same date and time of day `years` calendar years after `instant`, in UTC (RFC 3339 times are UTC-anchored). */
export function addCalendarYears(instant: Date, years: number): Date {
  const later = Temporal.Instant.fromEpochMilliseconds(instant.getTime()).toZonedDateTimeISO('UTC').add({ years });
  return new Date(later.epochMilliseconds);
}

export const titleSchema = z
  .string()
  .trim()
  .min(1, 'title must not be empty')
  .max(LIMITS.titleLength, `title must be at most ${LIMITS.titleLength} characters`);

export const descriptionSchema = z
  .string()
  .max(LIMITS.descriptionLength, `description must be at most ${LIMITS.descriptionLength} characters`)
  .nullish();

export const reminderSpecSchema = z
  .object({
    at: z.date().nullish(),
    secondsBeforeDeadline: z
      .number()
      .int()
      .min(0, 'secondsBeforeDeadline must not be negative')
      .max(LIMITS.maxSecondsBeforeDeadline, `secondsBeforeDeadline must be at most ${LIMITS.maxSecondsBeforeDeadline}`)
      .nullish(),
    local: z
      .object({
        daysBefore: z.number().int().min(0, 'daysBefore must not be negative').max(3660, 'daysBefore must be at most 3660'),
        at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'at must be a local time of day HH:MM').nullish(),
        minutesBefore: z.number().int().min(0, 'minutesBefore must not be negative').max(5270400, 'minutesBefore must be at most 5270400').nullish(),
      })
      .nullish(),
  })
  .refine((spec) => [spec.at, spec.secondsBeforeDeadline, spec.local].filter((value) => value != null).length === 1, {
    message: 'a reminder needs exactly one of `at`, `secondsBeforeDeadline` or `local`',
  });

export const reminderListSchema = z.array(reminderSpecSchema);

/**
 * The one rule "at most 25 reminders per task", with one answer (TOO_MANY_REMINDERS) whether the
 * reminders come with createTask or one at a time through addReminder.
 */
export function checkReminderCount(count: number, field: string): void {
  if (count > LIMITS.remindersPerTask) {
    throw new ValidationError(`a task can have at most ${LIMITS.remindersPerTask} reminders`, field, ErrorCode.TOO_MANY_REMINDERS);
  }
}

/** Parses with `schema` or throws a ValidationError naming the first offending field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, fieldPrefix: string | null = null): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const pathParts = [...(fieldPrefix ? [fieldPrefix] : []), ...(issue?.path ?? []).map(String)];
  throw new ValidationError(issue?.message ?? 'invalid input', pathParts.length > 0 ? pathParts.join('.') : null);
}

/**
 * A new or moved deadline must lie ahead of `now` (the database's time: see transactions.ts) and at
 * most 10 calendar years after it.
 */
export function checkDeadline(deadline: Date, now: Date, field = 'deadline'): void {
  if (Number.isNaN(deadline.getTime())) throw new ValidationError('deadline is not a valid time', field);
  if (deadline.getTime() <= now.getTime()) {
    throw new ScheduleError(ErrorCode.DEADLINE_IN_PAST, `deadline ${deadline.toISOString()} is not in the future`, field);
  }
  const horizon = addCalendarYears(now, LIMITS.deadlineHorizonYears);
  if (deadline.getTime() > horizon.getTime()) {
    throw new ValidationError(
      `deadline is more than ${LIMITS.deadlineHorizonYears} years away (the latest allowed now is ${horizon.toISOString()})`,
      field,
    );
  }
}

/** The moment a reminder fires for a given deadline (local reminders: reckoned in `zone`). */
export function triggerTimeOf(spec: ReminderSpec, deadline: Date, zone = 'UTC'): Date {
  if (spec.kind === 'local') return localTriggerTime(spec, deadline, zone);
  return spec.kind === 'absolute' ? spec.at : new Date(deadline.getTime() - spec.secondsBeforeDeadline * 1000);
}

/**
 * A pending reminder must fire in the future and no later than its task's deadline: a reminder
 * after the deadline would remind someone of something already missed.
 */
export function checkTrigger(triggerAt: Date, deadline: Date, now: Date, field: string | null, reminderId: string | null = null): void {
  if (triggerAt.getTime() <= now.getTime()) {
    throw new ScheduleError(
      ErrorCode.TRIGGER_IN_PAST,
      `reminder time ${triggerAt.toISOString()} is not in the future`,
      field,
      reminderId,
    );
  }
  if (triggerAt.getTime() > deadline.getTime()) {
    throw new ScheduleError(
      ErrorCode.TRIGGER_AFTER_DEADLINE,
      `reminder time ${triggerAt.toISOString()} is after the deadline ${deadline.toISOString()}`,
      field,
      reminderId,
    );
  }
}

/** Turns validated reminder input into its domain form. */
export function toReminderSpec(input: z.infer<typeof reminderSpecSchema>): ReminderSpec {
  if (input.local != null) {
    const { daysBefore, at, minutesBefore } = input.local;
    return { kind: 'local', daysBefore, timeMinute: at == null ? null : parseLocalTime(at, 'local.at'), minutesBefore: minutesBefore ?? 0 };
  }
  return input.at != null
    ? { kind: 'absolute', at: input.at }
    : { kind: 'relative', secondsBeforeDeadline: input.secondsBeforeDeadline ?? 0 };
}
