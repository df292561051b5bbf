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

/**
 * What the dispatcher stores in `events.payload` for a fired reminder. Times are RFC 3339 strings as
 * PostgreSQL's jsonb writes a timestamptz (`2026-11-30T23:50:39.123+00:00`, the offset of the writing
 * session's time zone); events stored before 2026-12-01 have the UTC `Z` form. Read them with
 * `reminderFiredPayload` (or `new Date`), never as they are.
 */
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

/**
 * A stored time in the form every channel gives: RFC 3339, UTC, milliseconds, `Z`. A value that is
 * not a time JavaScript can hold (a hand-written row, a year past 275760) is given as stored: a
 * delivery must not fail on its body's formatting.
 */
function utcTimestamp(stored: string): string {
  const at = new Date(stored);
  return Number.isNaN(at.getTime()) ? stored : at.toISOString();
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
    deadline: utcTimestamp(event.payload.deadline),
    triggerAt: utcTimestamp(event.payload.triggerAt),
    firedAt: utcTimestamp(event.payload.firedAt),
  };
}
