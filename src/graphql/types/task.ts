import { NotFoundError } from '../../domain/errors.js';
import { GraphQLError } from 'graphql';
import { isUuid, ownedTasks } from '../../domain/ownership.js';
import { builder } from '../builder.js';
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
    description: t.exposeString('description', { nullable: true }),
    deadline: t.expose('deadline', { type: 'DateTime' }),
    status: t.expose('status', { type: TaskStatusEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    reminders: t.relation('reminders', {
      description: 'All reminders of the task, earliest first (at most 25).',
      query: { orderBy: [{ triggerAt: 'asc' }, { id: 'asc' }] },
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
        ...query,
        where: { id: databaseIdOf(String(args.id), 'Task'), ...ownedTasks(context.viewer) },
      });
      if (!task) throw new NotFoundError('Task');
      return task;
    },
  }),
);

builder.queryField('tasks', (t) =>
  t.withAuth({ signedIn: true }).prismaConnection({
    type: 'Task',
    cursor: 'id',
    defaultSize: 20,
    maxSize: 100,
    description: 'Your tasks, earliest deadline first.',
    args: { filter: t.arg({ type: TaskFilter, required: false }) },
    resolve: (query, _root, args, context) => {
      // Cursors come from clients; one that does not hold a task id is a client error, not a database error.
      if (query.cursor && !isUuid(String(query.cursor.id))) throw new GraphQLError('invalid pagination cursor');
      return context.db.task.findMany({
        ...query,
        where: {
          ...ownedTasks(context.viewer),
          ...(args.filter?.status ? { status: { in: args.filter.status } } : {}),
          deadline: {
            ...(args.filter?.deadlineAfter ? { gte: args.filter.deadlineAfter } : {}),
            ...(args.filter?.deadlineBefore ? { lt: args.filter.deadlineBefore } : {}),
          },
        },
        orderBy: [{ deadline: 'asc' }, { id: 'asc' }],
      });
    },
  }, { name: 'TaskConnection' }, { name: 'TaskEdge' }),
);
