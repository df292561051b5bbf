/**
 * Every GraphQL operation the dashboard sends. Codegen (`npm run generate:client`, codegen.ts) turns
 * each into a typed string in src/web/gql, so results and variables are checked against schema.graphql.
 */
import { graphql } from '../gql/index.js';

export const DashboardViewer = graphql(`
  query DashboardViewer {
    viewer {
      id
      subject
      email
    }
  }
`);

export const DashboardTaskFields = graphql(`
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
`);

export const DashboardTasks = graphql(`
  query DashboardTasks {
    tasks(first: 100) {
      edges {
        node {
          ...DashboardTaskFields
        }
      }
    }
  }
`);

export const DashboardDeliveries = graphql(`
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
`);

export const DashboardCreateTask = graphql(`
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
`);

export const DashboardCompleteTask = graphql(`
  mutation DashboardCompleteTask($id: ID!) {
    completeTask(id: $id) {
      __typename
      ... on Error {
        message
      }
    }
  }
`);

export const DashboardCancelTask = graphql(`
  mutation DashboardCancelTask($id: ID!) {
    cancelTask(id: $id) {
      __typename
      ... on Error {
        message
      }
    }
  }
`);

export const DashboardDeleteTask = graphql(`
  mutation DashboardDeleteTask($id: ID!) {
    deleteTask(id: $id) {
      __typename
      ... on Error {
        message
      }
    }
  }
`);

export const DashboardReminderFired = graphql(`
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
`);
