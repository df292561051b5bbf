import { updateTask } from '../../domain/tasks.js';
import { builder } from '../builder.js';
import { databaseIdOf } from '../global-ids.js';
import { TASK_CHANGE_ERRORS } from '../types/errors.js';
import { TaskRef } from '../types/task.js';

const UpdateTaskInput = builder.inputType('UpdateTaskInput', {
  description: 'Fields left out stay as they are; `description: null` clears it (`title` and `deadline` cannot be null).',
  fields: (t) => ({
    title: t.string({ required: false }),
    description: t.string({ required: false }),
    deadline: t.field({ type: 'DateTime', required: false, description: 'Relative reminders move with it.' }),
  }),
});

builder.mutationField('updateTask', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: TaskRef,
    errors: { types: TASK_CHANGE_ERRORS, dataField: { name: 'task' } },
    args: { id: t.arg.id(), input: t.arg({ type: UpdateTaskInput }) },
    resolve: (_root, { id, input }, context) =>
      updateTask(context.db, context.viewer, databaseIdOf(String(id), 'Task'), input, context.policy),
  }),
);
