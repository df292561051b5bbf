import { snoozeReminder, SnoozeError } from '../../domain/snooze.js';
import { builder } from '../builder.js';
import { databaseIdOf, globalIdOf } from '../global-ids.js';
import { ErrorInterface, TASK_CHANGE_ERRORS } from '../types/errors.js';
import { ReminderRef } from '../types/reminder.js';

builder.objectType(SnoozeError, {
  name: 'SnoozeError',
  description: 'The reminder has not fired yet, or is already snoozed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof SnoozeError,
  fields: (t) => ({
    snoozeId: t.id({
      nullable: true,
      description: 'For ALREADY_SNOOZED: the existing snooze.',
      resolve: (error) => (error.snoozeId ? globalIdOf('Reminder', error.snoozeId) : null),
    }),
  }),
});

builder.mutationField('snoozeReminder', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: ReminderRef,
    description: 'Arms one new firing of a fired reminder, at `until` or `seconds` from now (exactly one), no later than the deadline.',
    errors: { types: [SnoozeError, ...TASK_CHANGE_ERRORS], dataField: { name: 'reminder' } },
    args: {
      id: t.arg.id(),
      until: t.arg({ type: 'DateTime', required: false }),
      seconds: t.arg.int({ required: false }),
    },
    resolve: (_root, args, context) =>
      snoozeReminder(context.db, context.viewer, databaseIdOf(String(args.id), 'Reminder'), { until: args.until, seconds: args.seconds }, context.policy),
  }),
);
