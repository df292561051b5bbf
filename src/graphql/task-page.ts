/**
 * One page of the `tasks` connection in ONE SQL statement, sent straight to pg (issue 10): the page's
 * tasks with, when selected, each task's reminders aggregated by PostgreSQL (`json_agg`, earliest
 * first like the `reminders` field), and only the columns the GraphQL selection reads. Through Prisma
 * the same read was two statements (tasks, then reminders) and cost 4-5x the CPU in Prisma's client,
 * query compiler and result mapping than in the query itself.
 *
 * It answers only what it knows how to load: a selection under `edges.node` of Task fields listed in
 * TASK_COLUMNS, and of `reminders` with Reminder fields listed in REMINDER_COLUMNS. Anything else (a
 * reminder's `task`, a field added later and not listed here) makes `taskPageColumns` answer null and
 * the caller reads the page through Prisma as before. The rows carry the Prisma models' property
 * names and types (Date for timestamps, enum values as strings), so Pothos' fields resolve from them
 * unchanged.
 */
import type { FieldNode, FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';
import type pg from 'pg';
import type { Task } from '../generated/prisma/client.js';
import type { CursorPosition } from './cursors.js';

/** A column: its Prisma property name, its SQL name, and whether it is a timestamp. */
interface Column {
  property: string;
  sql: string;
  timestamp: boolean;
}

const column = (property: string, sql: string, timestamp = false): Column => ({ property, sql, timestamp });

const TASK_ID = column('id', 'id');
const TASK_DEADLINE = column('deadline', 'deadline', true);
/** Task's GraphQL fields (src/graphql/types/task.ts) and the columns each reads; `reminders` is apart. */
const TASK_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  __typename: [],
  id: [TASK_ID],
  title: [column('title', 'title')],
  description: [column('description', 'description')],
  deadline: [TASK_DEADLINE],
  status: [column('status', 'status')],
  createdAt: [column('createdAt', 'created_at', true)],
  updatedAt: [column('updatedAt', 'updated_at', true)],
};

const REMINDER_ID = column('id', 'id');
const OFFSET_SECONDS = column('offsetSeconds', 'offset_seconds');
/** Reminder's GraphQL fields (src/graphql/types/reminder.ts) and the columns each reads; `task` is not here. */
const REMINDER_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  __typename: [],
  id: [REMINDER_ID],
  triggerAt: [column('triggerAt', 'trigger_at', true)],
  kind: [OFFSET_SECONDS, column('localDaysBefore', 'local_days_before')],
  secondsBeforeDeadline: [OFFSET_SECONDS],
  status: [column('status', 'status')],
  attempts: [column('attempt', 'attempt')],
  firedAt: [column('firedAt', 'fired_at', true)],
  lastError: [column('lastError', 'last_error')],
  createdAt: [column('createdAt', 'created_at', true)],
};

/** What a page's statement loads: the tasks' columns, and the reminders' columns (null: no reminders). */
export interface TaskPageColumns {
  task: readonly Column[];
  reminders: readonly Column[] | null;
}

/**
 * The columns the selection of `tasks` (info of that field) reads under `edges.node`, or null when it
 * selects anything this module does not load. Fragments are followed whatever their type condition,
 * and `@skip`/`@include` are not evaluated: at worst a column more is read, never one less.
 */
export function taskPageColumns(info: GraphQLResolveInfo): TaskPageColumns | null {
  const nodes = subfields(subfields(info.fieldNodes, 'edges', info.fragments), 'node', info.fragments);
  const task = new Set<Column>([TASK_ID, TASK_DEADLINE]);
  let reminders: Set<Column> | null = null;
  for (const field of fieldsOf(nodes, info.fragments)) {
    const name = field.name.value;
    if (name === 'reminders') {
      reminders ??= new Set([REMINDER_ID]);
      for (const reminderField of fieldsOf([field], info.fragments)) {
        const columns = REMINDER_COLUMNS[reminderField.name.value];
        if (!columns) return null;
        for (const each of columns) reminders.add(each);
      }
      continue;
    }
    const columns = TASK_COLUMNS[name];
    // Includes arguments nobody declared: Task's fields take none, and validation refused any given.
    if (!columns) return null;
    for (const each of columns) task.add(each);
  }
  return { task: [...task], reminders: reminders ? [...reminders] : null };
}

/** The fields named `name` among the selections of `fields`, fragments followed. */
function subfields(fields: readonly FieldNode[], name: string, fragments: Record<string, FragmentDefinitionNode>): FieldNode[] {
  return fieldsOf(fields, fragments).filter((field) => field.name.value === name);
}

/** Every field selected directly under `fields` (inline fragments and spreads flattened). */
function fieldsOf(fields: readonly FieldNode[], fragments: Record<string, FragmentDefinitionNode>): FieldNode[] {
  const found: FieldNode[] = [];
  const visit = (selectionSet: SelectionSetNode | undefined, seen: Set<string>) => {
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === 'Field') found.push(selection);
      else if (selection.kind === 'InlineFragment') visit(selection.selectionSet, seen);
      else if (!seen.has(selection.name.value)) {
        // Validation refuses cycles; `seen` only keeps a spread repeated at one level from being walked twice.
        seen.add(selection.name.value);
        visit(fragments[selection.name.value]?.selectionSet, seen);
      }
    }
  };
  for (const field of fields) visit(field.selectionSet, new Set());
  return found;
}

/** Which tasks, in which order: the `tasks` connection's arguments, cursors decoded. */
export interface TaskPageQuery {
  ownerId: string;
  statuses?: readonly string[];
  deadlineAfter?: Date;
  deadlineBefore?: Date;
  after?: CursorPosition;
  before?: CursorPosition;
  /** Newest first (for `last`/`before`); resolveCursorConnection turns the page back around. */
  inverted: boolean;
  limit: number;
}

/**
 * Reads the page: tasks in (deadline, id) order, each with its reminders ordered by (trigger_at, id)
 * when `columns.reminders` is set. A timestamp inside the aggregated JSON travels as Unix
 * milliseconds, read back exactly (columns are timestamptz(3)), whatever the session's TimeZone.
 */
export async function readTaskPage(pool: pg.Pool, columns: TaskPageColumns, query: TaskPageQuery): Promise<Task[]> {
  const parameters: unknown[] = [query.ownerId];
  const parameter = (value: unknown) => {
    // A Date as RFC 3339 in UTC: pg would write it in the process's local zone with a whole-minute
    // offset, which moves instants of zones whose offset had seconds (local mean time before ~1900).
    parameters.push(value instanceof Date ? value.toISOString() : value);
    return `$${parameters.length}`;
  };
  const conditions = [`t.owner_id = $1::uuid`];
  if (query.statuses) conditions.push(`t.status = ANY(${parameter(query.statuses)}::"TaskStatus"[])`);
  if (query.deadlineAfter) conditions.push(`t.deadline >= ${parameter(query.deadlineAfter)}::timestamptz`);
  if (query.deadlineBefore) conditions.push(`t.deadline < ${parameter(query.deadlineBefore)}::timestamptz`);
  if (query.after) conditions.push(`(t.deadline, t.id) > (${parameter(query.after.key)}::timestamptz, ${parameter(query.after.id)}::uuid)`);
  if (query.before) conditions.push(`(t.deadline, t.id) < (${parameter(query.before.key)}::timestamptz, ${parameter(query.before.id)}::uuid)`);
  const direction = query.inverted ? 'DESC' : 'ASC';
  // Column names come from the tables above, never from the request.
  const selected = columns.task.map((each) => `t.${each.sql} AS "${each.property}"`);
  if (columns.reminders) {
    const fields = columns.reminders.map(
      (each) => `'${each.property}', ${each.timestamp ? `(extract(epoch FROM r.${each.sql}) * 1000)::float8` : `r.${each.sql}`}`,
    );
    selected.push(
      `COALESCE((SELECT json_agg(json_build_object(${fields.join(', ')}) ORDER BY r.trigger_at, r.id) FROM reminders r WHERE r.task_id = t.id), '[]'::json) AS "reminders"`,
    );
  }
  const text = `SELECT ${selected.join(', ')} FROM tasks t WHERE ${conditions.join(' AND ')} ORDER BY t.deadline ${direction}, t.id ${direction} LIMIT ${parameter(query.limit)}`;
  const { rows } = await pool.query<Record<string, unknown>>(text, parameters);
  const reminderTimestamps = columns.reminders?.filter((each) => each.timestamp).map((each) => each.property) ?? [];
  if (reminderTimestamps.length > 0) {
    for (const row of rows) {
      for (const reminder of row.reminders as Array<Record<string, unknown>>) {
        for (const property of reminderTimestamps) {
          const milliseconds = reminder[property];
          if (typeof milliseconds === 'number') reminder[property] = new Date(milliseconds);
        }
      }
    }
  }
  // The rows hold the selected columns only, as a Prisma `select` would: Pothos' fields read no others.
  return rows as unknown as Task[];
}
