/**
 * Recurring tasks as series of occurrences.
 *
 * - **Series**: a rule (recurrence.ts) in a zone, anchored at the first deadline's local time.
 * - **Occurrence**: an ordinary task with `seriesId` and its `occurrence` number. Only the newest
 *   one (`lastOccurrence`) moves the series on.
 * - **Advancing**: completing the newest occurrence, or its deadline passing (the dispatcher),
 *   creates the next one (the first occurrence after it whose deadline is still ahead; missed ones
 *   are skipped) with its reminders, in the same transaction. The series row is locked first and
 *   the newest number re-checked, so two completions, or a completion racing a dispatcher, create
 *   it once; UNIQUE(series_id, occurrence) backs this up.
 * - **Reminders of the next occurrence**: the relative and local reminders of the newest
 *   occurrence, recomputed for the new deadline (a recomputed time already past is left out).
 *   Absolute and snoozed reminders belong to their occurrence only.
 * - **Ending**: a series ends when the rule has no further occurrence within the horizon (COUNT,
 *   UNTIL); cancelling any occurrence cancels the series. Moving one occurrence's deadline moves
 *   that occurrence only (like editing one instance in a calendar); the rule stays anchored.
 */
import type { Prisma, TaskSeries } from '../generated/prisma/client.js';
import { localSpecOf, localTriggerTime } from './local-reminders.js';
import { occurrences, RECURRENCE_LIMITS, type Occurrence, type SeriesPlan } from './recurrence.js';
import type { Viewer } from './types.js';
import { addCalendarYears, LIMITS } from './validation.js';

type Transaction = Prisma.TransactionClient;

/** The furthest ahead any occurrence is looked for: the deadline horizon (validation.ts). */
export function horizonFrom(now: Date): Date {
  return addCalendarYears(now, LIMITS.deadlineHorizonYears);
}

/** Creates the series row of a new recurring task (inside the task's creating transaction). */
export async function createSeries(tx: Transaction, viewer: Viewer, plan: SeriesPlan, timeZone: string): Promise<TaskSeries> {
  return tx.taskSeries.create({
    data: { ownerId: viewer.userId, rule: plan.rule.text, timeZone, anchorLocal: plan.anchorLocal, lastOccurrence: plan.first.number },
  });
}

/** Tells sleeping dispatchers that an occurrence's deadline is due at `at` (so they advance it on time). */
export async function notifyDeadline(tx: Transaction, at: Date): Promise<void> {
  await tx.$queryRaw`SELECT pg_notify('tickler_reminders', ${String(at.getTime())})::text`;
}

/**
 * Creates the occurrence after number `fromOccurrence` of the series, if `fromOccurrence` is still
 * its newest, the series is active, and the rule has another occurrence ahead of `now`; otherwise
 * does nothing (or marks the series ENDED when the rule is exhausted). Locks the series row.
 * @returns the new task's id, or null when none was created.
 */
export async function advanceSeries(tx: Transaction, seriesId: string, fromOccurrence: number, now: Date): Promise<string | null> {
  const rows = await tx.$queryRaw<Array<{ id: string; rule: string; time_zone: string; anchor_local: string; last_occurrence: number; status: string }>>`
    SELECT id, rule, time_zone, anchor_local, last_occurrence, status::text AS status
    FROM task_series WHERE id = ${seriesId}::uuid FOR UPDATE`;
  const series = rows[0];
  if (!series || series.status !== 'ACTIVE' || series.last_occurrence !== fromOccurrence) return null;
  const latest = await tx.task.findUnique({
    where: { seriesId_occurrence: { seriesId, occurrence: fromOccurrence } },
    include: { reminders: true },
  });
  const [next] = latest
    ? occurrences(
        { rule: series.rule, timeZone: series.time_zone, anchorLocal: series.anchor_local },
        { afterNumber: fromOccurrence, notBefore: new Date(now.getTime() + 1), limit: 1, horizon: horizonFrom(now) },
      )
    : [];
  if (!latest || next === undefined) {
    await tx.taskSeries.update({ where: { id: seriesId }, data: { status: 'ENDED' } });
    return null;
  }
  const seen = new Set<number>();
  const reminders = latest.reminders.flatMap((reminder) => {
    if (reminder.snoozedFromId !== null) return [];
    const local = localSpecOf(reminder);
    let triggerAt: Date;
    if (local !== null) triggerAt = localTriggerTime(local, next.deadline, series.time_zone);
    else if (reminder.offsetSeconds !== null) triggerAt = new Date(next.deadline.getTime() - reminder.offsetSeconds * 1000);
    else return [];
    if (triggerAt.getTime() <= now.getTime() || triggerAt.getTime() > next.deadline.getTime() || seen.has(triggerAt.getTime())) return [];
    seen.add(triggerAt.getTime());
    return [{
      triggerAt,
      offsetSeconds: reminder.offsetSeconds,
      localDaysBefore: reminder.localDaysBefore,
      localTimeMinute: reminder.localTimeMinute,
      localMinutesBefore: reminder.localMinutesBefore,
    }];
  });
  const created = await tx.task.create({
    data: {
      ownerId: latest.ownerId,
      title: latest.title,
      description: latest.description,
      deadline: next.deadline,
      timeZone: series.time_zone,
      seriesId,
      occurrence: next.number,
      reminders: { create: reminders },
    },
    select: { id: true },
  });
  await tx.taskSeries.update({ where: { id: seriesId }, data: { lastOccurrence: next.number } });
  await notifyDeadline(tx, next.deadline);
  return created.id;
}

/**
 * What finishing an occurrence means for its series: completing the newest one creates the next;
 * cancelling any one cancels the series. Call in the finishing transaction, after the task's lock.
 */
export async function onOccurrenceFinished(tx: Transaction, taskId: string, status: 'COMPLETED' | 'CANCELED', now = new Date()): Promise<void> {
  const task = await tx.task.findUnique({ where: { id: taskId }, select: { seriesId: true, occurrence: true } });
  if (!task || task.seriesId === null || task.occurrence === null) return;
  if (status === 'CANCELED') {
    await tx.taskSeries.updateMany({ where: { id: task.seriesId, status: 'ACTIVE' }, data: { status: 'CANCELED' } });
    return;
  }
  await advanceSeries(tx, task.seriesId, task.occurrence, now);
}

/** The next `limit` occurrences of a series after occurrence `afterNumber` (for the API). */
export function upcomingOccurrences(series: TaskSeries, afterNumber: number, limit: number, now = new Date()): Occurrence[] {
  if (series.status !== 'ACTIVE') return [];
  return occurrences(series, { afterNumber, limit: Math.min(limit, RECURRENCE_LIMITS.maxListed), horizon: horizonFrom(now) });
}
