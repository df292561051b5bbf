/**
 * The rejections a client can get from the domain. Each is a typed error in the GraphQL schema
 * with a stable machine-readable `code`; anything else that goes wrong is an internal error and
 * is masked before it reaches a client.
 */

export const ErrorCode = {
  /** The thing does not exist, or belongs to someone else: the two are indistinguishable on purpose. */
  NOT_FOUND: 'NOT_FOUND',
  /** Input is malformed or outside a limit (lengths, counts, ranges). */
  VALIDATION: 'VALIDATION',
  TOO_MANY_REMINDERS: 'TOO_MANY_REMINDERS',
  DEADLINE_IN_PAST: 'DEADLINE_IN_PAST',
  TRIGGER_IN_PAST: 'TRIGGER_IN_PAST',
  TRIGGER_AFTER_DEADLINE: 'TRIGGER_AFTER_DEADLINE',
  DUPLICATE_REMINDER: 'DUPLICATE_REMINDER',
  /** The task is completed or cancelled and can no longer change. */
  TASK_NOT_ACTIVE: 'TASK_NOT_ACTIVE',
  /** Only a reminder that has fired can be snoozed. */
  REMINDER_NOT_FIRED: 'REMINDER_NOT_FIRED',
  /** The fired reminder already has a snooze; it arms one firing only. */
  ALREADY_SNOOZED: 'ALREADY_SNOOZED',
  /** The user already has as many active tasks as their quota allows. */
  TOO_MANY_TASKS: 'TOO_MANY_TASKS',
  /**
   * The change met a lock or a full connection pool and gave up rather than wait without bound.
   * Nothing was written; the same request may be retried after `retryAfterSeconds`.
   */
  BUSY: 'BUSY',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

export class NotFoundError extends DomainError {
  readonly code = ErrorCode.NOT_FOUND;
  constructor(readonly kind: 'Task' | 'Reminder' | 'WebhookEndpoint' | 'Delivery') {
    super(`${kind} not found`);
  }
}

export class ValidationError extends DomainError {
  constructor(
    message: string,
    /** Path of the offending input field, e.g. `reminders.2.at`. */
    readonly field: string | null = null,
    readonly code: typeof ErrorCode.VALIDATION | typeof ErrorCode.TOO_MANY_REMINDERS = ErrorCode.VALIDATION,
  ) {
    super(message);
  }
}

/** A time that cannot work: a deadline in the past, or a reminder that could never be useful. */
export class ScheduleError extends DomainError {
  constructor(
    readonly code: typeof ErrorCode.DEADLINE_IN_PAST | typeof ErrorCode.TRIGGER_IN_PAST | typeof ErrorCode.TRIGGER_AFTER_DEADLINE,
    message: string,
    readonly field: string | null = null,
    /** The existing reminder that the change would break, when there is one. */
    readonly reminderId: string | null = null,
  ) {
    super(message);
  }
}

export class DuplicateReminderError extends DomainError {
  readonly code = ErrorCode.DUPLICATE_REMINDER;
  constructor(readonly triggerAt: Date | null) {
    super(
      triggerAt
        ? `the task already has a reminder at ${triggerAt.toISOString()}`
        : 'the task already has a reminder at that time',
    );
  }
}

export class TaskNotActiveError extends DomainError {
  readonly code = ErrorCode.TASK_NOT_ACTIVE;
  constructor(readonly status: 'COMPLETED' | 'CANCELED') {
    super(`the task is ${status.toLowerCase()} and can no longer be changed`);
  }
}

/** An active task over the user's quota (`MAX_ACTIVE_TASKS_PER_USER`); nothing was written. */
export class TooManyTasksError extends DomainError {
  readonly code = ErrorCode.TOO_MANY_TASKS;
  constructor(readonly limit: number) {
    super(`you already have ${limit} active tasks, the most allowed; complete, cancel or delete one first`);
  }
}

/**
 * Retryable: a row lock was not granted within `lock_timeout`, no connection was free within the
 * transaction's `maxWait`, or PostgreSQL chose this transaction as a deadlock or serialisation
 * victim. Nothing was written.
 */
export class BusyError extends DomainError {
  readonly code = ErrorCode.BUSY;
  constructor(
    /** Whole seconds a client should wait before retrying (the `Retry-After` of RFC 9110 §10.2.3). */
    readonly retryAfterSeconds: number,
    reason: string,
  ) {
    super(`the task is busy with other changes (${reason}); nothing was changed, retry after ${retryAfterSeconds} s`);
  }
}
