import { queryFromInfo } from '@pothos/plugin-prisma';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import { NotFoundError } from '../../domain/errors.js';
import { ownedTasks } from '../../domain/ownership.js';
import type { Task } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { rowQuery } from '../row-query.js';
import { decodeCursor, encodeCursor, keysetCondition, pageSize } from '../cursors.js';
import { databaseIdOf } from '../global-ids.js';
import { TASK_LOOKUP_ERRORS } from './errors.js';
import { TaskStatusEnum } from './task-status.js';


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
      query: { orderBy: [{ triggerAt: 'asc' }, { id: 'asc' }] },
      complexity: { field: 1, multiplier: 25 },
    }),
  }),
});

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
          ({ after, before, limit, inverted }) =>
            context.db.task.findMany({
              // The selections of `edges.node` (reminders...), in this one query.
              ...queryFromInfo({ context, info, path: ['edges', 'node'] }),
              where: {
                AND: [
                  ownedTasks(context.viewer),
                  // Deduplicated: a long list of one value would otherwise become as many query parameters.
                  args.filter?.status ? { status: { in: [...new Set(args.filter.status)] } } : {},
                  args.filter?.deadlineAfter ? { deadline: { gte: args.filter.deadlineAfter } } : {},
                  args.filter?.deadlineBefore ? { deadline: { lt: args.filter.deadlineBefore } } : {},
                  after ? keysetCondition('deadline', decodeCursor('Task', after, 'after'), 'gt') : {},
                  before ? keysetCondition('deadline', decodeCursor('Task', before, 'before'), 'lt') : {},
                ],
              },
              orderBy: inverted ? [{ deadline: 'desc' }, { id: 'desc' }] : [{ deadline: 'asc' }, { id: 'asc' }],
              take: limit,
            }),
        ),
    },
    { name: 'TaskConnection' },
    { name: 'TaskEdge' },
  ),
);
