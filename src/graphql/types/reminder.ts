import { ownedReminders } from '../../domain/ownership.js';
import { builder } from '../builder.js';
import { LocalReminderInput } from './recurrence.js';

export const ReminderStatusEnum = builder.enumType('ReminderStatus', {
  values: ['PENDING', 'PROCESSING', 'SENT', 'FAILED', 'CANCELED'] as const,
});

export const ReminderKindEnum = builder.enumType('ReminderKind', {
  description:
    'ABSOLUTE reminders keep their time; RELATIVE ones keep their distance to the deadline; LOCAL ones keep their local wall-clock time relative to it (see `local`).',
  values: ['ABSOLUTE', 'RELATIVE', 'LOCAL'] as const,
});

export const ReminderRef = builder.prismaNode('Reminder', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, context) => ({ id, ...ownedReminders(context.viewer) }),
  fields: (t) => ({
    task: t.relation('task'),
    triggerAt: t.expose('triggerAt', { type: 'DateTime', description: 'When the reminder fires.' }),
    kind: t.field({
      type: ReminderKindEnum,
      select: { offsetSeconds: true, localDaysBefore: true },
      resolve: (reminder) => (reminder.localDaysBefore !== null ? 'LOCAL' : reminder.offsetSeconds === null ? 'ABSOLUTE' : 'RELATIVE'),
    }),
    secondsBeforeDeadline: t.exposeInt('offsetSeconds', { nullable: true }),
    status: t.expose('status', { type: ReminderStatusEnum }),
    attempts: t.exposeInt('attempt', { description: 'How many times a dispatcher claimed it to fire it (above 1 only after a crash or a takeover).' }),
    firedAt: t.expose('firedAt', { type: 'DateTime', nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const ReminderInput = builder.inputType('ReminderInput', {
  description: 'Exactly one of `at` (a fixed time), `secondsBeforeDeadline` (follows the deadline) or `local` (local time relative to it).',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', required: false }),
    secondsBeforeDeadline: t.int({ required: false }),
    local: t.field({ type: LocalReminderInput, required: false }),
  }),
});
