/** Operations for recurring tasks, zones, local reminders, snoozes and quiet hours (issue 11). */
import { graphql } from '../gql/index.js';

export const RecurringTaskFields = graphql(`
  fragment RecurringTaskFields on Task {
    id
    deadline
    status
    timeZone
    recurrence {
      rule
      timeZone
      start
      status
      occurrence
      latestOccurrence
      nextOccurrences(first: 3)
    }
    reminders {
      id
      kind
      triggerAt
      status
      secondsBeforeDeadline
      local {
        daysBefore
        at
        minutesBefore
      }
    }
  }
`);

export const CreateRecurringTask = graphql(`
  mutation CreateRecurringTask($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess {
        task {
          ...RecurringTaskFields
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
        reminderId
      }
    }
  }
`);

export const GetRecurringTask = graphql(`
  query GetRecurringTask($id: ID!) {
    task(id: $id) {
      __typename
      ... on TaskSuccess {
        task {
          ...RecurringTaskFields
        }
      }
    }
  }
`);

export const CompleteRecurringTask = graphql(`
  mutation CompleteRecurringTask($id: ID!) {
    completeTask(id: $id) {
      __typename
      ... on CompleteTaskSuccess {
        task {
          ...RecurringTaskFields
        }
      }
      ... on Error {
        code
      }
    }
  }
`);

export const CancelRecurringTask = graphql(`
  mutation CancelRecurringTask($id: ID!) {
    cancelTask(id: $id) {
      __typename
      ... on CancelTaskSuccess {
        task {
          ...RecurringTaskFields
        }
      }
    }
  }
`);

export const MoveRecurringTask = graphql(`
  mutation MoveRecurringTask($id: ID!, $deadline: DateTime!) {
    updateTask(id: $id, input: { deadline: $deadline }) {
      __typename
      ... on UpdateTaskSuccess {
        task {
          ...RecurringTaskFields
        }
      }
      ... on Error {
        code
        message
      }
      ... on ScheduleError {
        field
        reminderId
      }
    }
  }
`);

export const ViewerSettings = graphql(`
  query ViewerSettings {
    viewer {
      timeZone
      quietHours {
        start
        end
      }
    }
  }
`);

export const SetTimeZone = graphql(`
  mutation SetTimeZone($timeZone: String!) {
    setTimeZone(timeZone: $timeZone) {
      __typename
      ... on SetTimeZoneSuccess {
        viewer {
          timeZone
        }
      }
      ... on ValidationError {
        code
        field
        message
      }
    }
  }
`);

export const SetQuietHours = graphql(`
  mutation SetQuietHours($quietHours: QuietHoursInput) {
    setQuietHours(quietHours: $quietHours) {
      __typename
      ... on SetQuietHoursSuccess {
        viewer {
          quietHours {
            start
            end
          }
        }
      }
      ... on ValidationError {
        code
        field
      }
    }
  }
`);

export const SnoozeReminder = graphql(`
  mutation SnoozeReminder($id: ID!, $until: DateTime, $seconds: Int) {
    snoozeReminder(id: $id, until: $until, seconds: $seconds) {
      __typename
      ... on SnoozeReminderSuccess {
        reminder {
          id
          triggerAt
          status
          kind
          snoozedFrom {
            id
          }
        }
      }
      ... on Error {
        code
        message
      }
      ... on SnoozeError {
        snoozeId
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
