/** The typed errors clients receive as data; every one implements `Error { message code }`. */
import {
  DomainError,
  DuplicateReminderError,
  ErrorCode,
  NotFoundError,
  ScheduleError,
  TaskNotActiveError,
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

/** Error lists for fields, most specific first. */
export const TASK_LOOKUP_ERRORS = [NotFoundError];
export const TASK_STATE_ERRORS = [NotFoundError, TaskNotActiveError];
export const TASK_CHANGE_ERRORS = [NotFoundError, ValidationError, ScheduleError, DuplicateReminderError, TaskNotActiveError];
