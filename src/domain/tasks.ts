/**
 * Changes to tasks. Each function is one transaction (transactions.ts): it checks the input's
 * shape, then, inside the transaction and against the database's clock, its times; it locks what
 * it changes and either applies everything or nothing.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Database } from '../db/client.js';
import { Prisma, type Reminder, type Task } from '../generated/prisma/client.js';
import { DuplicateReminderError, ErrorCode, ScheduleError, TaskNotActiveError, TooManyTasksError, ValidationError } from './errors.js';
import { lockOwnedTask } from './ownership.js';
import { retimeLocalReminders, specColumns } from './local-reminders.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { planSeries } from './recurrence.js';
import { rejectingDuplicateReminders } from './reminders.js';
import { createSeries, horizonFrom, notifyDeadline, onOccurrenceFinished } from './series.js';
import { inTaskTransaction } from './task-queue.js';
import { DEFAULT_TIME_ZONE, parseTimeZone } from './time-zones.js';
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
 * What the caller will read of the created task, as Prisma query arguments (the GraphQL layer passes
 * Pothos' `query` for the selection). Absent: the task's own columns only.
 */
export interface TaskSelection {
  include?: Prisma.TaskInclude;
  select?: Prisma.TaskSelect;
}

/** The order the Task type loads its reminders in (src/graphql/types/task.ts), and the insert returns them in. */
const REMINDER_ORDER = [{ triggerAt: 'asc' }, { id: 'asc' }];

/**
 * Whether the insert's rows (every column of the task and of each of its reminders, earliest first)
 * hold all that `selection` asks for: the task's columns, and its reminders without anything under
 * them. Any other relation (its series, each reminder's task...) is left to a read.
 */
function answeredByInsert(selection: TaskSelection): boolean {
  return Object.entries(selection.select ?? selection.include ?? {}).every(([key, asked]) => {
    if (asked === undefined || asked === false) return true;
    if (key === 'reminders') return asked === true || isDeepStrictEqual(asked, { orderBy: REMINDER_ORDER });
    return asked === true && key in Prisma.TaskScalarFieldEnum;
  });
}

/**
 * Creates a task with its reminders: all of them, or, if any one is invalid, nothing. Refused with
 * TOO_MANY_TASKS when the user already has `policy.maxActiveTasksPerUser` active tasks. The task's
 * zone is `input.timeZone`, else the viewer's. With a recurrence rule the task is the first
 * occurrence of a new series (series.ts), and its deadline the rule's first occurrence at or after
 * `input.deadline`.
 *
 * A plain task takes four statements: BEGIN; the database clock with the viewer's zone (and, under
 * a quota, the viewer's row lock); one INSERT of the task and its reminders, guarded by the quota
 * count, returning both; COMMIT. A recurring one adds its series row and a wake-up for the
 * dispatcher. A `selection` the insert's rows cannot answer (another relation) is read in the same
 * transaction.
 */
export async function createTask(
  db: Database,
  viewer: Viewer,
  input: CreateTaskInput,
  policy: DomainPolicy = DEFAULT_POLICY,
  selection: TaskSelection = {},
): Promise<Task> {
  const title = parseOrThrow(titleSchema, input.title, 'title');
  const description = parseOrThrow(descriptionSchema, input.description, 'description');
  const specs = parseOrThrow(reminderListSchema, input.reminders ?? [], 'reminders').map(toReminderSpec);
  checkReminderCount(specs.length, 'reminders');
  const ownZone = input.timeZone != null ? parseTimeZone(input.timeZone, 'timeZone') : null;
  const quota = policy.maxActiveTasksPerUser;
  return rejectingDuplicateReminders(() =>
    inTransaction(
      db,
      policy.transactions,
      async (tx, now, user) => {
        checkDeadline(input.deadline, now);
        const timeZone = ownZone ?? user?.timeZone ?? DEFAULT_TIME_ZONE;
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
        const series = plan ? await createSeries(tx, viewer, plan, timeZone) : null;
        const created = await insertTaskWithReminders(
          tx,
          {
            ownerId: viewer.userId,
            title,
            description: description ?? null,
            deadline,
            timeZone,
            seriesId: series?.id ?? null,
            occurrence: plan?.first.number ?? null,
          },
          reminders,
          quota,
        );
        // No task: the quota held it back (the viewer's row lock makes the count exact).
        if (created === null) throw new TooManyTasksError(quota);
        if (series) await notifyDeadline(tx, deadline);
        if (!answeredByInsert(selection)) return tx.task.findUniqueOrThrow({ where: { id: created.id }, ...selection });
        return created;
      },
      // The zone read (when the input names none) and the quota's lock ride on the clock's statement.
      ownZone === null || quota !== 0 ? { user: { id: viewer.userId, lock: quota !== 0 } } : {},
    ),
  );
}

type NewTask = Pick<Task, 'ownerId' | 'title' | 'description' | 'deadline' | 'timeZone' | 'seriesId' | 'occurrence'>;
type NewReminder = Pick<Reminder, 'triggerAt' | 'offsetSeconds' | 'localDaysBefore' | 'localTimeMinute' | 'localMinutesBefore'>;

/** One row of the insert: the task's columns (null when the quota held it back) and one reminder's (null when none). */
type CreatedRow = { [K in keyof Task as `t_${K}`]: Task[K] | null } & { [K in keyof Reminder as `r_${K}`]: Reminder[K] | null };

/**
 * The one INSERT: the task, only while the owner's active tasks are under `quota` (0: no quota),
 * and its reminders, in data-modifying CTEs, so both land or neither.
 * @returns the task with `reminders` (earliest first), or null when the quota held it back.
 */
async function insertTaskWithReminders(
  tx: Transaction,
  task: NewTask,
  reminders: readonly NewReminder[],
  quota: number,
): Promise<(Task & { reminders: Reminder[] }) | null> {
  const column = <K extends keyof NewReminder>(key: K): Array<NewReminder[K]> => reminders.map((reminder) => reminder[key]);
  const guard =
    quota === 0
      ? Prisma.sql`SELECT NULL::int AS n`
      : Prisma.sql`SELECT count(*)::int AS n FROM tasks WHERE owner_id = ${task.ownerId}::uuid AND status = 'ACTIVE'`;
  const rows = await tx.$queryRaw<CreatedRow[]>`
    WITH active AS (${guard}),
    task AS (
      INSERT INTO tasks (owner_id, title, description, deadline, time_zone, series_id, occurrence)
      SELECT ${task.ownerId}::uuid, ${task.title}, ${task.description}, ${task.deadline}::timestamptz, ${task.timeZone},
             ${task.seriesId}::uuid, ${task.occurrence}::int
      FROM active WHERE ${quota}::int = 0 OR active.n < ${quota}::int
      RETURNING *
    ),
    reminder AS (
      INSERT INTO reminders (task_id, trigger_at, offset_seconds, local_days_before, local_time_minute, local_minutes_before)
      SELECT task.id, wanted.*
      FROM task CROSS JOIN unnest(${column('triggerAt')}::timestamptz[], ${column('offsetSeconds')}::int[],
        ${column('localDaysBefore')}::int[], ${column('localTimeMinute')}::int[], ${column('localMinutesBefore')}::int[]) AS wanted
      RETURNING *
    )
    SELECT task.id AS "t_id", task.owner_id AS "t_ownerId", task.title AS "t_title", task.description AS "t_description",
           task.deadline AS "t_deadline", task.status::text AS "t_status", task.created_at AS "t_createdAt",
           task.updated_at AS "t_updatedAt", task.time_zone AS "t_timeZone", task.series_id AS "t_seriesId",
           task.occurrence AS "t_occurrence",
           reminder.id AS "r_id", reminder.task_id AS "r_taskId", reminder.trigger_at AS "r_triggerAt",
           reminder.offset_seconds AS "r_offsetSeconds", reminder.status::text AS "r_status", reminder.attempt AS "r_attempt",
           reminder.claimed_by AS "r_claimedBy", reminder.claimed_at AS "r_claimedAt", reminder.fired_at AS "r_firedAt",
           reminder.last_error AS "r_lastError", reminder.created_at AS "r_createdAt", reminder.updated_at AS "r_updatedAt",
           reminder.local_days_before AS "r_localDaysBefore", reminder.local_time_minute AS "r_localTimeMinute",
           reminder.local_minutes_before AS "r_localMinutesBefore", reminder.snoozed_from_id AS "r_snoozedFromId"
    FROM active
    LEFT JOIN task ON true
    LEFT JOIN reminder ON reminder.task_id = task.id
    ORDER BY reminder.trigger_at, reminder.id`;
  const first = rows[0];
  if (first === undefined) throw new Error('task insert returned no row');
  if (first.t_id === null) return null;
  return { ...unprefixed<Task>(first, 't_'), reminders: rows.filter((row) => row.r_id !== null).map((row) => unprefixed<Reminder>(row, 'r_')) };
}

/**
 * The columns of `row` that start with `prefix`, without it. The insert's SELECT lists every
 * column of the model under its Prisma name (CreatedRow's keys), so the result is a whole row.
 */
function unprefixed<T>(row: CreatedRow, prefix: 't_' | 'r_'): T {
  return Object.fromEntries(
    Object.entries(row).flatMap(([key, value]) => (key.startsWith(prefix) ? [[key.slice(prefix.length), value]] : [])),
  ) as T;
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
    const deleted = await tx.task.delete({ where: { id: taskId }, select: { seriesId: true } });
    // Deleting an occurrence ends its series, as cancelling one does: the next occurrence is made from
    // the newest, and an active series left without it could never advance.
    if (deleted.seriesId !== null) {
      await tx.taskSeries.updateMany({ where: { id: deleted.seriesId, status: 'ACTIVE' }, data: { status: 'CANCELED' } });
    }
    return taskId;
  });
}
