/**
 * Local relative reminders: "N days before the deadline at HH:MM local", optionally "minus M
 * minutes". They are reckoned in the task's zone and recomputed whenever the deadline moves or
 * the task recurs, so "the day before at 18:00" stays 18:00 on the wall clock across DST changes.
 *
 * The trigger is computed with Temporal in three steps, each with RFC 5545 §3.3.6's meaning of
 * durations: (1) the deadline's local date-time minus N *nominal* days (same wall-clock time,
 * however long the days were); (2) that day at `HH:MM`, when given; (3) minus M *exact* minutes
 * of elapsed time. Steps 1 and 2 place a local time in the zone by the DST rule of time-zones.ts.
 * "At the deadline minus M minutes" is daysBefore 0 without a time, which is the same moment as
 * `secondsBeforeDeadline: 60 * M`.
 */
import type { Prisma } from '../generated/prisma/client.js';
import { ErrorCode, ScheduleError } from './errors.js';
import { instantOfLocal, plainTimeOf, zonedOf } from './time-zones.js';
import type { ReminderSpec } from './types.js';

export interface LocalReminderSpec {
  kind: 'local';
  daysBefore: number;
  /** Minutes after local midnight; null: the deadline's own local time. */
  timeMinute: number | null;
  minutesBefore: number;
}

/** The instant a local relative reminder fires for `deadline` in `zone`. */
export function localTriggerTime(spec: LocalReminderSpec, deadline: Date, zone: string): Date {
  const zonedDeadline = zonedOf(deadline, zone);
  const day = zonedDeadline.toPlainDateTime().subtract({ days: spec.daysBefore });
  const local = spec.timeMinute === null ? day : day.withPlainTime(plainTimeOf(spec.timeMinute));
  const trigger = instantOfLocal(local, zone).subtract({ minutes: spec.minutesBefore });
  return new Date(trigger.epochMilliseconds);
}

/** The reminder row's columns that describe a local spec. */
export function localColumns(spec: LocalReminderSpec): { localDaysBefore: number; localTimeMinute: number | null; localMinutesBefore: number } {
  return { localDaysBefore: spec.daysBefore, localTimeMinute: spec.timeMinute, localMinutesBefore: spec.minutesBefore };
}

/** A stored reminder's local spec, or null when it is not a local reminder. */
export function localSpecOf(row: { localDaysBefore: number | null; localTimeMinute: number | null; localMinutesBefore: number | null }): LocalReminderSpec | null {
  if (row.localDaysBefore === null) return null;
  return { kind: 'local', daysBefore: row.localDaysBefore, timeMinute: row.localTimeMinute, minutesBefore: row.localMinutesBefore ?? 0 };
}

/**
 * Moves the task's pending local reminders to their times for the new `deadline`, in one
 * statement. Call inside the transaction that moves the deadline, under the task's lock.
 * @throws ScheduleError (`deadline`, naming the reminder) when one would land in the past or after
 *   the deadline; nothing is changed then (the caller's transaction rolls back).
 */
export async function retimeLocalReminders(tx: Prisma.TransactionClient, taskId: string, deadline: Date, zone: string, now: Date): Promise<void> {
  const pending = await tx.reminder.findMany({
    where: { taskId, status: 'PENDING', localDaysBefore: { not: null } },
    select: { id: true, localDaysBefore: true, localTimeMinute: true, localMinutesBefore: true },
  });
  if (pending.length === 0) return;
  const ids: string[] = [];
  const times: Date[] = [];
  for (const reminder of pending) {
    const spec = localSpecOf(reminder);
    if (spec === null) continue;
    const triggerAt = localTriggerTime(spec, deadline, zone);
    if (triggerAt.getTime() <= now.getTime()) {
      throw new ScheduleError(ErrorCode.TRIGGER_IN_PAST, `local reminder would fire at ${triggerAt.toISOString()}, in the past`, 'deadline', reminder.id);
    }
    if (triggerAt.getTime() > deadline.getTime()) {
      throw new ScheduleError(ErrorCode.TRIGGER_AFTER_DEADLINE, `local reminder would fire at ${triggerAt.toISOString()}, after the deadline`, 'deadline', reminder.id);
    }
    ids.push(reminder.id);
    times.push(triggerAt);
  }
  await tx.$executeRaw`
    UPDATE reminders r SET trigger_at = m.trigger_at, updated_at = now()
    FROM unnest(${ids}::uuid[], ${times}::timestamptz[]) AS m(id, trigger_at)
    WHERE r.id = m.id`;
}

/** The reminder row's spec columns for any kind of reminder. */
export function specColumns(spec: ReminderSpec): {
  offsetSeconds: number | null;
  localDaysBefore: number | null;
  localTimeMinute: number | null;
  localMinutesBefore: number | null;
} {
  if (spec.kind === 'local') return { offsetSeconds: null, ...localColumns(spec) };
  return {
    offsetSeconds: spec.kind === 'relative' ? spec.secondsBeforeDeadline : null,
    localDaysBefore: null,
    localTimeMinute: null,
    localMinutesBefore: null,
  };
}
