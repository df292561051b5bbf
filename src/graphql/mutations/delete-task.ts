import { deleteTask } from '../../domain/tasks.js';
import { builder } from '../builder.js';
import { databaseIdOf, globalIdOf } from '../global-ids.js';
import { TASK_REMOVAL_ERRORS } from '../types/errors.js';

const DeleteTaskPayload = builder.objectRef<{ deletedTaskId: string }>('DeleteTaskPayload').implement({
  fields: (t) => ({ deletedTaskId: t.exposeID('deletedTaskId') }),
});

builder.mutationField('deleteTask', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: DeleteTaskPayload,
    description: 'Deletes the task and all its reminders for good.',
    errors: { types: TASK_REMOVAL_ERRORS, directResult: true },
    args: { id: t.arg.id() },
    resolve: async (_root, { id }, context) => {
      const taskId = await deleteTask(context.db, context.viewer, databaseIdOf(String(id), 'Task'), context.policy);
      return { deletedTaskId: globalIdOf('Task', taskId) };
    },
  }),
);
