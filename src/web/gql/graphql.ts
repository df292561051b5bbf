/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type CreateTaskInput = {
  deadline: string;
  description?: string | null | undefined;
  /** Makes the task recurring; the deadline's local time anchors the rule (its first occurrence at or after the deadline). */
  recurrence?: RecurrenceInput | null | undefined;
  /** At most 25. */
  reminders?: Array<ReminderInput> | null | undefined;
  /** IANA zone of the task; default: yours. */
  timeZone?: string | null | undefined;
  title: string;
};

export type DeliveryChannel =
  | 'EMAIL'
  | 'WEBHOOK';

export type DeliveryStatus =
  | 'FAILED'
  | 'PENDING'
  | 'PROCESSING'
  | 'SENT';

/** "daysBefore days before the deadline, at `at` local time (default: the deadline’s), minus minutesBefore minutes". */
export type LocalReminderInput = {
  /** HH:MM, 24-hour, local to the task zone. */
  at?: string | null | undefined;
  daysBefore: number;
  minutesBefore?: number | null | undefined;
};

export type RecurrenceInput = {
  /** RFC 5545 RRULE value: FREQ=DAILY|WEEKLY|MONTHLY|YEARLY with INTERVAL, BYDAY (1MO, -1FR), BYMONTHDAY (-1), BYMONTH, BYSETPOS, COUNT (at most 1000), UNTIL, WKST. */
  rule: string;
};

/** Exactly one of `at` (a fixed time), `secondsBeforeDeadline` (follows the deadline) or `local` (local time relative to it). */
export type ReminderInput = {
  at?: string | null | undefined;
  local?: LocalReminderInput | null | undefined;
  secondsBeforeDeadline?: number | null | undefined;
};

/** ABSOLUTE reminders keep their time; RELATIVE ones keep their distance to the deadline; LOCAL ones keep their local wall-clock time relative to it (see `local`). */
export type ReminderKind =
  | 'ABSOLUTE'
  | 'LOCAL'
  | 'RELATIVE';

export type ReminderStatus =
  | 'CANCELED'
  | 'FAILED'
  | 'PENDING'
  | 'PROCESSING'
  | 'SENT';

export type TaskStatus =
  | 'ACTIVE'
  | 'CANCELED'
  | 'COMPLETED';

export type DashboardViewerQueryVariables = Exact<{ [key: string]: never; }>;


export type DashboardViewerQuery = { viewer: { id: string, subject: string, email: string | null } };

export type DashboardTaskFieldsFragment = { id: string, title: string, deadline: string, status: TaskStatus, reminders: Array<{ id: string, triggerAt: string, status: ReminderStatus, kind: ReminderKind, secondsBeforeDeadline: number | null, firedAt: string | null }> };

export type DashboardTasksQueryVariables = Exact<{ [key: string]: never; }>;


export type DashboardTasksQuery = { tasks: { edges: Array<{ node: { id: string, title: string, deadline: string, status: TaskStatus, reminders: Array<{ id: string, triggerAt: string, status: ReminderStatus, kind: ReminderKind, secondsBeforeDeadline: number | null, firedAt: string | null }> } }> } };

export type DashboardDeliveriesQueryVariables = Exact<{ [key: string]: never; }>;


export type DashboardDeliveriesQuery = { webhookEndpoints: Array<{ id: string, url: string, description: string | null }>, deliveries: { edges: Array<{ node: { id: string, channel: DeliveryChannel, status: DeliveryStatus, eventId: string, attemptCount: number, lastError: string | null, deliveredAt: string | null, nextAttemptAt: string | null, endpoint: { id: string } | null, attempts: Array<{ attempt: number, attemptedAt: string, statusCode: number | null, error: string | null }> } }> } };

export type DashboardCreateTaskMutationVariables = Exact<{
  input: CreateTaskInput;
}>;


export type DashboardCreateTaskMutation = { createTask:
    | { __typename: 'BusyError', message: string }
    | { __typename: 'CreateTaskSuccess', task: { id: string, title: string, deadline: string, status: TaskStatus, reminders: Array<{ id: string, triggerAt: string, status: ReminderStatus, kind: ReminderKind, secondsBeforeDeadline: number | null, firedAt: string | null }> } }
    | { __typename: 'DuplicateReminderError', message: string }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'ScheduleError', message: string }
    | { __typename: 'TaskNotActiveError', message: string }
    | { __typename: 'TooManyTasksError', message: string }
    | { __typename: 'ValidationError', message: string }
   };

export type DashboardCompleteTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type DashboardCompleteTaskMutation = { completeTask:
    | { __typename: 'BusyError', message: string }
    | { __typename: 'CompleteTaskSuccess' }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'TaskNotActiveError', message: string }
   };

export type DashboardCancelTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type DashboardCancelTaskMutation = { cancelTask:
    | { __typename: 'BusyError', message: string }
    | { __typename: 'CancelTaskSuccess' }
    | { __typename: 'NotFoundError', message: string }
    | { __typename: 'TaskNotActiveError', message: string }
   };

export type DashboardDeleteTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type DashboardDeleteTaskMutation = { deleteTask:
    | { __typename: 'BusyError', message: string }
    | { __typename: 'DeleteTaskPayload' }
    | { __typename: 'NotFoundError', message: string }
   };

export type DashboardReminderFiredSubscriptionVariables = Exact<{
  after?: string | number | null | undefined;
}>;


export type DashboardReminderFiredSubscription = { reminderFired: { id: string, taskId: string, reminderId: string, taskTitle: string, triggerAt: string, occurredAt: string } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const DashboardTaskFieldsFragmentDoc = new TypedDocumentString(`
    fragment DashboardTaskFields on Task {
  id
  title
  deadline
  status
  reminders {
    id
    triggerAt
    status
    kind
    secondsBeforeDeadline
    firedAt
  }
}
    `, {"fragmentName":"DashboardTaskFields"}) as unknown as TypedDocumentString<DashboardTaskFieldsFragment, unknown>;
export const DashboardViewerDocument = new TypedDocumentString(`
    query DashboardViewer {
  viewer {
    id
    subject
    email
  }
}
    `) as unknown as TypedDocumentString<DashboardViewerQuery, DashboardViewerQueryVariables>;
export const DashboardTasksDocument = new TypedDocumentString(`
    query DashboardTasks {
  tasks(first: 100) {
    edges {
      node {
        ...DashboardTaskFields
      }
    }
  }
}
    fragment DashboardTaskFields on Task {
  id
  title
  deadline
  status
  reminders {
    id
    triggerAt
    status
    kind
    secondsBeforeDeadline
    firedAt
  }
}`) as unknown as TypedDocumentString<DashboardTasksQuery, DashboardTasksQueryVariables>;
export const DashboardDeliveriesDocument = new TypedDocumentString(`
    query DashboardDeliveries {
  webhookEndpoints {
    id
    url
    description
  }
  deliveries(first: 100) {
    edges {
      node {
        id
        channel
        status
        eventId
        attemptCount
        lastError
        deliveredAt
        nextAttemptAt
        endpoint {
          id
        }
        attempts {
          attempt
          attemptedAt
          statusCode
          error
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardDeliveriesQuery, DashboardDeliveriesQueryVariables>;
export const DashboardCreateTaskDocument = new TypedDocumentString(`
    mutation DashboardCreateTask($input: CreateTaskInput!) {
  createTask(input: $input) {
    __typename
    ... on CreateTaskSuccess {
      task {
        ...DashboardTaskFields
      }
    }
    ... on Error {
      message
    }
  }
}
    fragment DashboardTaskFields on Task {
  id
  title
  deadline
  status
  reminders {
    id
    triggerAt
    status
    kind
    secondsBeforeDeadline
    firedAt
  }
}`) as unknown as TypedDocumentString<DashboardCreateTaskMutation, DashboardCreateTaskMutationVariables>;
export const DashboardCompleteTaskDocument = new TypedDocumentString(`
    mutation DashboardCompleteTask($id: ID!) {
  completeTask(id: $id) {
    __typename
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardCompleteTaskMutation, DashboardCompleteTaskMutationVariables>;
export const DashboardCancelTaskDocument = new TypedDocumentString(`
    mutation DashboardCancelTask($id: ID!) {
  cancelTask(id: $id) {
    __typename
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardCancelTaskMutation, DashboardCancelTaskMutationVariables>;
export const DashboardDeleteTaskDocument = new TypedDocumentString(`
    mutation DashboardDeleteTask($id: ID!) {
  deleteTask(id: $id) {
    __typename
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardDeleteTaskMutation, DashboardDeleteTaskMutationVariables>;
export const DashboardReminderFiredDocument = new TypedDocumentString(`
    subscription DashboardReminderFired($after: ID) {
  reminderFired(after: $after) {
    id
    taskId
    reminderId
    taskTitle
    triggerAt
    occurredAt
  }
}
    `) as unknown as TypedDocumentString<DashboardReminderFiredSubscription, DashboardReminderFiredSubscriptionVariables>;