/** The operations most tests share; codegen types them from schema.graphql into tests/gql. */
import { graphql } from '../gql/index.js';

export const TaskFields = graphql(`
  fragment TaskFields on Task {
    id
    title
    description
    deadline
    status
    reminders {
      id
      triggerAt
      kind
      secondsBeforeDeadline
      status
    }
  }
`);

export const CreateTask = graphql(`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess {
        task {
          ...TaskFields
        }
      }
      ... on Error {
        code
        message
      }
      ... on ValidationError {
        field
      }
      ... on ScheduleError {
        field
      }
    }
  }
`);

export const UpdateTask = graphql(`
  mutation UpdateTask($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) {
      __typename
      ... on UpdateTaskSuccess {
        task {
          ...TaskFields
        }
      }
      ... on Error {
        code
        message
      }
      ... on ScheduleError {
        reminderId
      }
    }
  }
`);

export const CompleteTask = graphql(`
  mutation CompleteTask($id: ID!) {
    completeTask(id: $id) {
      __typename
      ... on CompleteTaskSuccess {
        task {
          ...TaskFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const CancelTask = graphql(`
  mutation CancelTask($id: ID!) {
    cancelTask(id: $id) {
      __typename
      ... on CancelTaskSuccess {
        task {
          ...TaskFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const DeleteTask = graphql(`
  mutation DeleteTask($id: ID!) {
    deleteTask(id: $id) {
      __typename
      ... on DeleteTaskPayload {
        deletedTaskId
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const AddReminder = graphql(`
  mutation AddReminder($taskId: ID!, $reminder: ReminderInput!) {
    addReminder(taskId: $taskId, reminder: $reminder) {
      __typename
      ... on AddReminderSuccess {
        reminder {
          id
          triggerAt
          kind
          status
        }
      }
      ... on Error {
        code
        message
      }
      ... on DuplicateReminderError {
        triggerAt
      }
    }
  }
`);

export const RemoveReminder = graphql(`
  mutation RemoveReminder($id: ID!) {
    removeReminder(id: $id) {
      __typename
      ... on RemoveReminderPayload {
        removedReminderId
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const GetTask = graphql(`
  query GetTask($id: ID!) {
    task(id: $id) {
      __typename
      ... on TaskSuccess {
        task {
          ...TaskFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const ListTasks = graphql(`
  query ListTasks($first: Int, $after: String, $filter: TaskFilter) {
    tasks(first: $first, after: $after, filter: $filter) {
      edges {
        cursor
        node {
          ...TaskFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const GetNode = graphql(`
  query GetNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Task {
        title
      }
      ... on Reminder {
        triggerAt
      }
    }
  }
`);

export const Viewer = graphql(`
  query Viewer {
    viewer {
      id
      subject
    }
  }
`);
