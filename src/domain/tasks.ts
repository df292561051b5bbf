/**
 * Changes to tasks. Each function is one transaction (transactions.ts): it checks the input's
 * shape, then, inside the transaction and against the database's clock, its times; it locks what
 * it changes and either applies everything or nothing.
 */
import type { Database } from '../db/client.js';
import { Prisma, type Reminder, type Task } from '../generated/prisma/client.js';
import { DuplicateReminderError, ErrorCode, ScheduleError, TaskNotActiveError, TooManyTasksError } from './errors.js';
import { lockOwnedTask } from './ownership.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { rejectingDuplicateReminders } from './reminders.js';
import { inTaskTransaction } from './task-queue.js';
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

/** A created task as one row per reminder (one row, reminder columns null, when it has none). */
interface CreatedRow {
  /** Null (and so are all task columns) when the quota held the task back. */
  id: string | null;
  ownerId: string;
  title: string;
  description: string | null;
  deadline: Date;
  status: Task['status'];
  createdAt: Date;
  updatedAt: Date;
  reminderId: string | null;
  triggerAt: Date | null;
  offsetSeconds: number | null;
  reminderStatus: Reminder['status'] | null;
  attempt: number | null;
  claimedBy: string | null;
  claimedAt: Date | null;
  firedAt: Date | null;
  lastError: string | null;
  reminderCreatedAt: Date | null;
  reminderUpdatedAt: Date | null;
}

const TASK_COLUMNS = new Set(['id', 'ownerId', 'title', 'description', 'deadline', 'status', 'createdAt', 'updatedAt']);
const REMINDER_COLUMNS = new Set(['id', 'taskId', 'triggerAt', 'offsetSeconds', 'status', 'attempt', 'claimedBy', 'claimedAt', 'firedAt', 'lastError', 'createdAt', 'updatedAt']);
const REMINDER_ORDER = JSON.stringify([{ triggerAt: 'asc' }, { id: 'asc' }]);

/** Whether `select` (Prisma select arguments) asks only for columns in `columns`. */
function onlyColumns(select: unknown, columns: ReadonlySet<string>): boolean {
  if (typeof select !== 'object' || select === null) return false;
  return Object.entries(select).every(([key, value]) => value === false || value === undefined || (value === true && columns.has(key)));
}

/**
 * Whether the rows the insert returns (all of the task's columns and all of its reminders',
 * earliest first) hold everything `selection` asks for: columns of the task, and its reminders'
 * columns in the order the Task type loads them; no other relation, filter or page.
 */
function answeredByInsert(selection: TaskSelection): boolean {
  const asked: Record<string, unknown> = { ...(selection.select ?? selection.include ?? {}) };
  const reminders = asked.reminders;
  delete asked.reminders;
  if (selection.select !== undefined ? !onlyColumns(asked, TASK_COLUMNS) : !onlyColumns(asked, new Set())) return false;
  if (reminders === undefined || typeof reminders === 'boolean') return true;
  if (typeof reminders !== 'object' || reminders === null) return false;
  const { orderBy, select, ...rest } = reminders as Record<string, unknown>;
  if (Object.values(rest).some((value) => value !== undefined)) return false;
  if (select !== undefined && !onlyColumns(select, REMINDER_COLUMNS)) return false;
  return orderBy === undefined || JSON.stringify(orderBy) === REMINDER_ORDER;
}

/** Whether `selection` asks for the task's reminders. */
function wantsReminders(selection: TaskSelection): boolean {
  const reminders = (selection.select ?? selection.include)?.reminders;
  return reminders !== undefined && reminders !== false;
}

/**
 * Creates a task with its reminders: all of them, or, if any one is invalid, nothing. Refused with
 * TOO_MANY_TASKS when the user already has `policy.maxActiveTasksPerUser` active tasks.
 *
 * Four statements in all: BEGIN; the database clock (and, with a quota, the user's row lock);
 * one INSERT of the task and its reminders, guarded by the quota count, that returns both; COMMIT.
 * The result carries `reminders` (earliest first) when `selection` includes them; a selection the
 * insert's rows cannot answer (other relations) is read in the same transaction.
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
  const quota = policy.maxActiveTasksPerUser;
  return rejectingDuplicateReminders(() =>
    inTransaction(
      db,
      policy.transactions,
      async (tx, now) => {
        checkDeadline(input.deadline, now);
        const seen = new Set<number>();
        const reminders = specs.map((spec, index) => {
          const triggerAt = triggerTimeOf(spec, input.deadline);
          checkTrigger(triggerAt, input.deadline, now, `reminders.${index}`);
          if (seen.has(triggerAt.getTime())) throw new DuplicateReminderError(triggerAt);
          seen.add(triggerAt.getTime());
          return { triggerAt, offsetSeconds: spec.kind === 'relative' ? spec.secondsBeforeDeadline : null };
        });
        const rows = await insertTaskWithReminders(tx, viewer.userId, { title, description: description ?? null, deadline: input.deadline }, reminders, quota);
        const first = rows[0];
        if (first === undefined) throw new Error('task insert returned no row');
        // No task row: the quota guard held it back (the user's row lock makes the count exact).
        if (first.id === null) throw new TooManyTasksError(quota);
        const task = taskOf({ ...first, id: first.id });
        if (!answeredByInsert(selection)) return tx.task.findUniqueOrThrow({ where: { id: task.id }, ...selection });
        if (!wantsReminders(selection)) return task;
        const loaded = rows.flatMap((row) => (row.reminderId === null ? [] : [reminderOf({ ...row, id: task.id })]));
        return { ...task, reminders: loaded };
      },
      quota === 0 ? {} : { lockUserId: viewer.userId },
    ),
  );
}

/**
 * The one INSERT: the task (only while the user's active tasks are under `quota`, 0 meaning no quota)
 * and its reminders, in a data-modifying CTE, so that both land or neither; returns the task's row
 * joined to each reminder's, earliest first, or a single row of nulls when the quota held the task
 * back.
 */
async function insertTaskWithReminders(
  tx: Transaction,
  ownerId: string,
  task: { title: string; description: string | null; deadline: Date },
  reminders: ReadonlyArray<{ triggerAt: Date; offsetSeconds: number | null }>,
  quota: number,
): Promise<CreatedRow[]> {
  const triggers = reminders.map((reminder) => reminder.triggerAt);
  const offsets = reminders.map((reminder) => reminder.offsetSeconds);
  const guard =
    quota === 0
      ? Prisma.sql`SELECT NULL::int AS n`
      : Prisma.sql`SELECT count(*)::int AS n FROM tasks WHERE owner_id = ${ownerId}::uuid AND status = 'ACTIVE'`;
  return tx.$queryRaw<CreatedRow[]>`
    WITH active AS (${guard}),
    task AS (
      INSERT INTO tasks (owner_id, title, description, deadline)
      SELECT ${ownerId}::uuid, ${task.title}, ${task.description}, ${task.deadline}::timestamptz
      FROM active WHERE ${quota}::int = 0 OR active.n < ${quota}::int
      RETURNING *
    ),
    reminder AS (
      INSERT INTO reminders (task_id, trigger_at, offset_seconds)
      SELECT task.id, wanted.trigger_at, wanted.offset_seconds
      FROM task CROSS JOIN unnest(${triggers}::timestamptz[], ${offsets}::int[]) AS wanted(trigger_at, offset_seconds)
      RETURNING *
    )
    SELECT task.id, task.owner_id AS "ownerId", task.title, task.description, task.deadline, task.status::text AS status,
           task.created_at AS "createdAt", task.updated_at AS "updatedAt", reminder.id AS "reminderId", reminder.trigger_at AS "triggerAt", reminder.offset_seconds AS "offsetSeconds",
           reminder.status::text AS "reminderStatus", reminder.attempt, reminder.claimed_by AS "claimedBy",
           reminder.claimed_at AS "claimedAt", reminder.fired_at AS "firedAt", reminder.last_error AS "lastError",
           reminder.created_at AS "reminderCreatedAt", reminder.updated_at AS "reminderUpdatedAt"
    FROM active
    LEFT JOIN task ON true
    LEFT JOIN reminder ON reminder.task_id = task.id
    ORDER BY reminder.trigger_at, reminder.id`;
}

function taskOf(row: CreatedRow & { id: string }): Task {
  return {
    id: row.id,
    ownerId: row.ownerId,
    title: row.title,
    description: row.description,
    deadline: row.deadline,
    status: row.status,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function reminderOf(row: CreatedRow & { id: string }): Reminder {
  if (row.reminderId === null || row.triggerAt === null || row.reminderStatus === null || row.attempt === null || row.reminderCreatedAt === null || row.reminderUpdatedAt === null) {
    throw new Error('reminder row is incomplete');
  }
  return {
    id: row.reminderId,
    taskId: row.id,
    triggerAt: row.triggerAt,
    offsetSeconds: row.offsetSeconds,
    status: row.reminderStatus,
    attempt: row.attempt,
    claimedBy: row.claimedBy,
    claimedAt: row.claimedAt,
    firedAt: row.firedAt,
    lastError: row.lastError,
    createdAt: row.reminderCreatedAt,
    updatedAt: row.reminderUpdatedAt,
  };
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
          select: { id: true, triggerAt: true, offsetSeconds: true },
          orderBy: { triggerAt: 'asc' },
        });
        for (const reminder of pending) {
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
  return inTaskTransaction(db, viewer, taskId, policy, async (tx) => {
    const task = await lockOwnedTask(tx, viewer, taskId);
    if (task.status !== 'ACTIVE' && task.status !== status) throw new TaskNotActiveError(task.status);
    if (task.status === 'ACTIVE') {
      await tx.reminder.updateMany({
        where: { taskId, status: { in: ['PENDING', 'PROCESSING'] } },
        data: { status: 'CANCELED', claimedBy: null, claimedAt: null },
      });
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
