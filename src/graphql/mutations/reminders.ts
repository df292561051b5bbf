import { addReminder, removeReminder } from '../../domain/reminders.js';
import { builder } from '../builder.js';
import { databaseIdOf, globalIdOf } from '../global-ids.js';
import { TASK_CHANGE_ERRORS, TASK_REMOVAL_ERRORS } from '../types/errors.js';
import { ReminderInput, ReminderRef } from '../types/reminder.js';

builder.mutationField('addReminder', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: ReminderRef,
    errors: { types: TASK_CHANGE_ERRORS, dataField: { name: 'reminder' } },
    args: { taskId: t.arg.id(), reminder: t.arg({ type: ReminderInput }) },
    resolve: (_root, args, context) =>
      addReminder(context.db, context.viewer, databaseIdOf(String(args.taskId), 'Task'), args.reminder, context.policy),
  }),
);

const RemoveReminderPayload = builder.objectRef<{ removedReminderId: string }>('RemoveReminderPayload').implement({
  fields: (t) => ({ removedReminderId: t.exposeID('removedReminderId') }),
});

builder.mutationField('removeReminder', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: RemoveReminderPayload,
    errors: { types: TASK_REMOVAL_ERRORS, directResult: true },
    args: { id: t.arg.id() },
    resolve: async (_root, { id }, context) => {
      const reminderId = databaseIdOf(String(id), 'Reminder');
      await removeReminder(context.db, context.viewer, reminderId, context.policy);
      return { removedReminderId: globalIdOf('Reminder', reminderId) };
    },
  }),
);
