/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query DashboardViewer {\n    viewer {\n      id\n      subject\n      email\n    }\n  }\n": typeof types.DashboardViewerDocument,
    "\n  fragment DashboardTaskFields on Task {\n    id\n    title\n    deadline\n    status\n    reminders {\n      id\n      triggerAt\n      status\n      kind\n      secondsBeforeDeadline\n      firedAt\n    }\n  }\n": typeof types.DashboardTaskFieldsFragmentDoc,
    "\n  query DashboardTasks {\n    tasks(first: 100) {\n      edges {\n        node {\n          ...DashboardTaskFields\n        }\n      }\n    }\n  }\n": typeof types.DashboardTasksDocument,
    "\n  query DashboardDeliveries {\n    webhookEndpoints {\n      id\n      url\n      description\n    }\n    deliveries(first: 100) {\n      edges {\n        node {\n          id\n          channel\n          status\n          eventId\n          attemptCount\n          lastError\n          deliveredAt\n          nextAttemptAt\n          endpoint {\n            id\n          }\n          attempts {\n            attempt\n            attemptedAt\n            statusCode\n            error\n          }\n        }\n      }\n    }\n  }\n": typeof types.DashboardDeliveriesDocument,
    "\n  mutation DashboardCreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) {\n      __typename\n      ... on CreateTaskSuccess {\n        task {\n          ...DashboardTaskFields\n        }\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.DashboardCreateTaskDocument,
    "\n  mutation DashboardCompleteTask($id: ID!) {\n    completeTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.DashboardCompleteTaskDocument,
    "\n  mutation DashboardCancelTask($id: ID!) {\n    cancelTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.DashboardCancelTaskDocument,
    "\n  mutation DashboardDeleteTask($id: ID!) {\n    deleteTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.DashboardDeleteTaskDocument,
    "\n  subscription DashboardReminderFired($after: ID) {\n    reminderFired(after: $after) {\n      id\n      taskId\n      reminderId\n      taskTitle\n      triggerAt\n      occurredAt\n    }\n  }\n": typeof types.DashboardReminderFiredDocument,
};
const documents: Documents = {
    "\n  query DashboardViewer {\n    viewer {\n      id\n      subject\n      email\n    }\n  }\n": types.DashboardViewerDocument,
    "\n  fragment DashboardTaskFields on Task {\n    id\n    title\n    deadline\n    status\n    reminders {\n      id\n      triggerAt\n      status\n      kind\n      secondsBeforeDeadline\n      firedAt\n    }\n  }\n": types.DashboardTaskFieldsFragmentDoc,
    "\n  query DashboardTasks {\n    tasks(first: 100) {\n      edges {\n        node {\n          ...DashboardTaskFields\n        }\n      }\n    }\n  }\n": types.DashboardTasksDocument,
    "\n  query DashboardDeliveries {\n    webhookEndpoints {\n      id\n      url\n      description\n    }\n    deliveries(first: 100) {\n      edges {\n        node {\n          id\n          channel\n          status\n          eventId\n          attemptCount\n          lastError\n          deliveredAt\n          nextAttemptAt\n          endpoint {\n            id\n          }\n          attempts {\n            attempt\n            attemptedAt\n            statusCode\n            error\n          }\n        }\n      }\n    }\n  }\n": types.DashboardDeliveriesDocument,
    "\n  mutation DashboardCreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) {\n      __typename\n      ... on CreateTaskSuccess {\n        task {\n          ...DashboardTaskFields\n        }\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.DashboardCreateTaskDocument,
    "\n  mutation DashboardCompleteTask($id: ID!) {\n    completeTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.DashboardCompleteTaskDocument,
    "\n  mutation DashboardCancelTask($id: ID!) {\n    cancelTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.DashboardCancelTaskDocument,
    "\n  mutation DashboardDeleteTask($id: ID!) {\n    deleteTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.DashboardDeleteTaskDocument,
    "\n  subscription DashboardReminderFired($after: ID) {\n    reminderFired(after: $after) {\n      id\n      taskId\n      reminderId\n      taskTitle\n      triggerAt\n      occurredAt\n    }\n  }\n": types.DashboardReminderFiredDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardViewer {\n    viewer {\n      id\n      subject\n      email\n    }\n  }\n"): typeof import('./graphql.js').DashboardViewerDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment DashboardTaskFields on Task {\n    id\n    title\n    deadline\n    status\n    reminders {\n      id\n      triggerAt\n      status\n      kind\n      secondsBeforeDeadline\n      firedAt\n    }\n  }\n"): typeof import('./graphql.js').DashboardTaskFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardTasks {\n    tasks(first: 100) {\n      edges {\n        node {\n          ...DashboardTaskFields\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardTasksDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardDeliveries {\n    webhookEndpoints {\n      id\n      url\n      description\n    }\n    deliveries(first: 100) {\n      edges {\n        node {\n          id\n          channel\n          status\n          eventId\n          attemptCount\n          lastError\n          deliveredAt\n          nextAttemptAt\n          endpoint {\n            id\n          }\n          attempts {\n            attempt\n            attemptedAt\n            statusCode\n            error\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardDeliveriesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DashboardCreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) {\n      __typename\n      ... on CreateTaskSuccess {\n        task {\n          ...DashboardTaskFields\n        }\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardCreateTaskDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DashboardCompleteTask($id: ID!) {\n    completeTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardCompleteTaskDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DashboardCancelTask($id: ID!) {\n    cancelTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardCancelTaskDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DashboardDeleteTask($id: ID!) {\n    deleteTask(id: $id) {\n      __typename\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.js').DashboardDeleteTaskDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription DashboardReminderFired($after: ID) {\n    reminderFired(after: $after) {\n      id\n      taskId\n      reminderId\n      taskTitle\n      triggerAt\n      occurredAt\n    }\n  }\n"): typeof import('./graphql.js').DashboardReminderFiredDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
