import { cancelTask, completeTask } from '../../domain/tasks.js';
import { builder } from '../builder.js';
import { databaseIdOf } from '../global-ids.js';
import { TASK_STATE_ERRORS } from '../types/errors.js';
import { TaskRef } from '../types/task.js';

builder.mutationField('completeTask', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: TaskRef,
    description: 'Marks the task done; its reminders that have not fired are cancelled with it.',
    errors: { types: TASK_STATE_ERRORS, dataField: { name: 'task' } },
    args: { id: t.arg.id() },
    resolve: (_root, { id }, context) => completeTask(context.db, context.viewer, databaseIdOf(String(id), 'Task'), context.policy),
  }),
);

builder.mutationField('cancelTask', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: TaskRef,
    description: 'Cancels the task and, in the same transaction, every reminder that has not fired.',
    errors: { types: TASK_STATE_ERRORS, dataField: { name: 'task' } },
    args: { id: t.arg.id() },
    resolve: (_root, { id }, context) => cancelTask(context.db, context.viewer, databaseIdOf(String(id), 'Task'), context.policy),
  }),
);
