/**
 * The public shape of a fired-reminder event, as every channel outside the event log shows it:
 * webhooks and email bodies (src/notifiers) and, with the same ids, the GraphQL API. It lives here,
 * with the log it describes, so that both the GraphQL layer and the notifiers read it from below.
 */

/** The body every channel describes: one fired reminder. */
export interface ReminderFiredPayload {
  type: 'reminder.fired';
  /** The event's id in Tickler's event log (a decimal string). */
  eventId: string;
  /** Relay global ids, as the GraphQL API shows them (`base64("Task:<uuid>")`). */
  taskId: string;
  reminderId: string;
  taskTitle: string;
  /** RFC 3339, UTC, milliseconds, `Z`. */
  deadline: string;
  triggerAt: string;
  firedAt: string;
}

/** What the dispatcher stores in `events.payload` for a fired reminder (times as RFC 3339 strings). */
export interface StoredReminderFired {
  taskTitle: string;
  deadline: string;
  triggerAt: string;
  firedAt: string;
}

/**
 * A Relay global id: base64 of `<typename>:<id>`, the encoding of the Relay Global Object
 * Identification spec as Pothos' plugin-relay writes it (src/graphql/global-ids.ts decodes it).
 */
export function publicIdOf(typename: 'Task' | 'Reminder', id: string): string {
  return Buffer.from(`${typename}:${id}`, 'utf8').toString('base64');
}

export function reminderFiredPayload(event: {
  eventId: bigint;
  taskId: string;
  reminderId: string;
  payload: StoredReminderFired;
}): ReminderFiredPayload {
  return {
    type: 'reminder.fired',
    eventId: event.eventId.toString(),
    taskId: publicIdOf('Task', event.taskId),
    reminderId: publicIdOf('Reminder', event.reminderId),
    taskTitle: event.payload.taskTitle,
    deadline: event.payload.deadline,
    triggerAt: event.payload.triggerAt,
    firedAt: event.payload.firedAt,
  };
}
