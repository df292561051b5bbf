import { queryFromInfo } from '@pothos/plugin-prisma';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import { NotFoundError } from '../../domain/errors.js';
import { ownedTasks } from '../../domain/ownership.js';
import type { Task } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { rowQuery } from '../row-query.js';
import { decodeCursor, encodeCursor, keysetCondition, pageSize } from '../cursors.js';
import { databaseIdOf } from '../global-ids.js';
import { readTaskPage, taskPageColumns } from '../task-page.js';
import { sqlPoolOf } from '../../db/client.js';
import { TASK_LOOKUP_ERRORS } from './errors.js';
import { TaskStatusEnum } from './task-status.js';

/** A task's reminders, earliest first: the `reminders` field's order, and readTaskPage's. */
const REMINDER_ORDER = [{ triggerAt: 'asc' }, { id: 'asc' }] as const;
const REMINDER_ORDER_JSON = JSON.stringify(REMINDER_ORDER);

export const TaskRef = builder.prismaNode('Task', {
  id: { field: 'id' },
  // Absent (not yours, or never existed) loads as null for `node(id)`, never as an error.
  nullable: true,
  // Loading a Task by id (node queries, relations) is always limited to the viewer's own tasks.
  findUnique: (id, context) => ({ id, ...ownedTasks(context.viewer) }),
  fields: (t) => ({
    title: t.exposeString('title'),
    // Up to 5,000 characters where a title has 200: it weighs more in a query's cost.
    description: t.exposeString('description', { nullable: true, complexity: 10 }),
    deadline: t.expose('deadline', { type: 'DateTime' }),
    status: t.expose('status', { type: TaskStatusEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    reminders: t.relation('reminders', {
      description: 'All reminders of the task, earliest first (at most 25).',
      query: { orderBy: [...REMINDER_ORDER] },
      complexity: { field: 1, multiplier: 25 },
    }),
  }),
});

/**
 * Whether Pothos' plan for a page's tasks is at most "the reminders, earliest first" (`{}` or
 * `{ include: { reminders: { orderBy } } }`): what readTaskPage loads. A nested relation (a
 * reminder's `task`) is planned as more, and the page is then read through Prisma.
 */
function plansOnlyReminders(query: { include?: unknown; select?: unknown }): boolean {
  if (query.select !== undefined) return false;
  if (query.include === undefined) return true;
  if (typeof query.include !== 'object' || query.include === null) return false;
  const { reminders, ...others } = query.include as Record<string, unknown>;
  if (Object.keys(others).length > 0) return false;
  if (reminders === undefined) return true;
  if (typeof reminders !== 'object' || reminders === null) return false;
  const { orderBy, ...rest } = reminders as Record<string, unknown>;
  return Object.keys(rest).length === 0 && JSON.stringify(orderBy) === REMINDER_ORDER_JSON;
}

const TaskFilter = builder.inputType('TaskFilter', {
  fields: (t) => ({
    status: t.field({ type: [TaskStatusEnum], required: false, description: 'Only tasks in one of these states.' }),
    deadlineAfter: t.field({ type: 'DateTime', required: false, description: 'Deadline at or after this time.' }),
    deadlineBefore: t.field({ type: 'DateTime', required: false, description: 'Deadline strictly before this time.' }),
  }),
});

builder.queryField('task', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: 'Task',
    errors: { types: TASK_LOOKUP_ERRORS, dataField: { name: 'task' } },
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, context) => {
      const task = await context.db.task.findFirst({
        ...rowQuery(query),
        where: { id: databaseIdOf(String(args.id), 'Task'), ...ownedTasks(context.viewer) },
      });
      if (!task) throw new NotFoundError('Task');
      return task;
    },
  }),
);

builder.queryField('tasks', (t) =>
  t.withAuth({ signedIn: true }).connection(
    {
      type: TaskRef,
      description: 'Your tasks, earliest deadline first (at most 100 per page).',
      args: { filter: t.arg({ type: TaskFilter, required: false }) },
      complexity: (args) => ({ field: 1, multiplier: pageSize(args) }),
      resolve: (_root, args, context, info) =>
        resolveCursorConnection<Promise<Task[]>>(
          { args, defaultSize: 20, maxSize: 100, toCursor: (task) => encodeCursor('Task', { key: task.deadline, id: task.id }) },
          ({ after, before, limit, inverted }) => {
            // The selections of `edges.node` (reminders...): planned by Pothos even when the page is read
            // below, since its plan is what lets `reminders` resolve from the rows instead of loading again.
            const query = queryFromInfo({ context, info, path: ['edges', 'node'] });
            const ownerId = ownedTasks(context.viewer).ownerId;
            // Deduplicated: a long list of one value would otherwise become as many query parameters.
            const statuses = args.filter?.status ? [...new Set(args.filter.status)] : undefined;
            const afterPosition = after ? decodeCursor('Task', after, 'after') : undefined;
            const beforePosition = before ? decodeCursor('Task', before, 'before') : undefined;
            const pool = sqlPoolOf(context.db);
            const columns = pool && plansOnlyReminders(query) ? taskPageColumns(info) : null;
            if (pool && columns) {
              return readTaskPage(pool, columns, {
                ownerId,
                statuses,
                deadlineAfter: args.filter?.deadlineAfter ?? undefined,
                deadlineBefore: args.filter?.deadlineBefore ?? undefined,
                after: afterPosition,
                before: beforePosition,
                inverted,
                limit,
              });
            }
            return context.db.task.findMany({
              ...query,
              where: {
                AND: [
                  { ownerId },
                  statuses ? { status: { in: statuses } } : {},
                  args.filter?.deadlineAfter ? { deadline: { gte: args.filter.deadlineAfter } } : {},
                  args.filter?.deadlineBefore ? { deadline: { lt: args.filter.deadlineBefore } } : {},
                  afterPosition ? keysetCondition('deadline', afterPosition, 'gt') : {},
                  beforePosition ? keysetCondition('deadline', beforePosition, 'lt') : {},
                ],
              },
              orderBy: inverted ? [{ deadline: 'desc' }, { id: 'desc' }] : [{ deadline: 'asc' }, { id: 'asc' }],
              take: limit,
            });
          },
        ),
    },
    { name: 'TaskConnection' },
    { name: 'TaskEdge' },
  ),
);
