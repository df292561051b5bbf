/** The typed errors clients receive as data; every one implements `Error { message code }`. */
import {
  BusyError,
  DomainError,
  DuplicateReminderError,
  ErrorCode,
  NotFoundError,
  ScheduleError,
  TaskNotActiveError,
  TooManyTasksError,
  ValidationError,
} from '../../domain/errors.js';
import { builder } from '../builder.js';
import { globalIdOf } from '../global-ids.js';
import { TaskStatusEnum } from './task-status.js';

export const ErrorCodeEnum = builder.enumType('ErrorCode', {
  description: 'A stable, machine-readable reason; messages may change, codes do not.',
  values: Object.values(ErrorCode),
});

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCodeEnum, resolve: (error) => error.code }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The task or reminder does not exist, or is not yours.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
  fields: () => ({}),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is malformed or beyond a limit.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    field: t.exposeString('field', { nullable: true, description: 'Path of the offending input field.' }),
  }),
});

builder.objectType(ScheduleError, {
  name: 'ScheduleError',
  description: 'A deadline in the past, or a reminder that would fire in the past or after its deadline.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ScheduleError,
  fields: (t) => ({
    field: t.exposeString('field', { nullable: true }),
    reminderId: t.id({
      nullable: true,
      description: 'The existing reminder the change would break, if any.',
      resolve: (error) => (error.reminderId ? globalIdOf('Reminder', error.reminderId) : null),
    }),
  }),
});

builder.objectType(DuplicateReminderError, {
  name: 'DuplicateReminderError',
  description: 'The task already has a reminder at that moment.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof DuplicateReminderError,
  fields: (t) => ({
    triggerAt: t.expose('triggerAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.objectType(TaskNotActiveError, {
  name: 'TaskNotActiveError',
  description: 'The task is completed or cancelled.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof TaskNotActiveError,
  fields: (t) => ({ status: t.field({ type: TaskStatusEnum, resolve: (error) => error.status }) }),
});

builder.objectType(TooManyTasksError, {
  name: 'TooManyTasksError',
  description: 'You already have as many active tasks as your quota allows; nothing was written.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof TooManyTasksError,
  fields: (t) => ({ limit: t.exposeInt('limit', { description: 'Active tasks allowed per user.' }) }),
});

builder.objectType(BusyError, {
  name: 'BusyError',
  description:
    'The change met other changes to the same data (a row lock not granted in time, no free database connection, a deadlock) ' +
    'and gave up instead of waiting without bound. Nothing was written; retry the same request.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof BusyError,
  fields: (t) => ({
    retryAfterSeconds: t.exposeInt('retryAfterSeconds', { description: 'Seconds to wait before retrying.' }),
  }),
});

/** Error lists for fields, most specific first. Every mutation can answer BUSY (transactions.ts). */
export const TASK_LOOKUP_ERRORS = [NotFoundError];
export const TASK_REMOVAL_ERRORS = [NotFoundError, BusyError];
export const TASK_STATE_ERRORS = [NotFoundError, TaskNotActiveError, BusyError];
export const TASK_CHANGE_ERRORS = [NotFoundError, ValidationError, ScheduleError, DuplicateReminderError, TaskNotActiveError, BusyError];
