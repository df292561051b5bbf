import { TooManyTasksError } from '../../domain/errors.js';
import { createTask } from '../../domain/tasks.js';
import { builder } from '../builder.js';
import { TASK_CHANGE_ERRORS } from '../types/errors.js';
import { TaskRef } from '../types/task.js';
import { ReminderInput } from '../types/reminder.js';
import { RecurrenceInput } from '../types/recurrence.js';

const CreateTaskInput = builder.inputType('CreateTaskInput', {
  fields: (t) => ({
    title: t.string(),
    description: t.string({ required: false }),
    deadline: t.field({ type: 'DateTime' }),
    reminders: t.field({ type: [ReminderInput], required: false, description: 'At most 25.' }),
    timeZone: t.string({ required: false, description: 'IANA zone of the task; default: yours.' }),
    recurrence: t.field({
      type: RecurrenceInput,
      required: false,
      description: "Makes the task recurring; the deadline's local time anchors the rule (its first occurrence at or after the deadline).",
    }),
  }),
});

builder.mutationField('createTask', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: TaskRef,
    description: 'Creates a task with its reminders, all or nothing.',
    errors: { types: [...TASK_CHANGE_ERRORS, TooManyTasksError], dataField: { name: 'task' } },
    args: { input: t.arg({ type: CreateTaskInput }) },
    // `query` is what the selection under `task` needs (e.g. its reminders): the domain returns it
    // from the insert itself, instead of Pothos reading the task again after the commit.
    resolve: (query, _root, { input }, context) => createTask(context.db, context.viewer, input, context.policy, query),
  }),
);
