/**
 * Tickler's domain, in words:
 *
 * - **User**: a person, known by the `sub` claim of their token; created the first time they call.
 * - **Viewer**: the user making the current request. Everything is seen through a viewer: another
 *   user's data does not exist for them.
 * - **Task**: something to be done by its **deadline**. ACTIVE until COMPLETED or CANCELED; only
 *   active tasks change or fire reminders.
 * - **Reminder**: a moment at which the task's owner is told about the task. **Absolute** reminders
 *   have a fixed time; **relative** ones sit a fixed number of seconds before the deadline and move
 *   with it. A task has at most one reminder per moment.
 * - **Trigger time** (`trigger_at`): when a reminder is due. It must lie in the future and no later
 *   than the deadline when the reminder is scheduled.
 * - **Pending / processing / sent / failed / canceled**: a reminder's life. The dispatcher *claims*
 *   pending reminders that are due (processing), then records them sent or failed. Cancelling or
 *   completing a task cancels its pending reminders.
 * - **Deep cancellation**: the task and all its not-yet-fired reminders change in one transaction.
 */

import type { LocalReminderSpec } from './local-reminders.js';

export interface Viewer {
  userId: string;
  subject: string;
}

export type ReminderSpec =
  | { kind: 'absolute'; at: Date }
  | { kind: 'relative'; secondsBeforeDeadline: number }
  | LocalReminderSpec;

/** "N days before at HH:MM local, minus M minutes" (see local-reminders.ts). */
export interface LocalReminderInput {
  daysBefore: number;
  /** `HH:MM`; omitted: the deadline's local time. */
  at?: string | null;
  minutesBefore?: number | null;
}

export interface CreateTaskInput {
  title: string;
  description?: string | null;
  deadline: Date;
  reminders?: ReadonlyArray<{ at?: Date | null; secondsBeforeDeadline?: number | null; local?: LocalReminderInput | null }> | null;
  /** IANA zone of the task; omitted: the owner's zone. */
  timeZone?: string | null;
  /** Makes the task recurring (see recurrence.ts). */
  recurrence?: { rule: string } | null;
}

export interface UpdateTaskInput {
  /** Omitted: unchanged; null: refused (VALIDATION, field `title`). */
  title?: string | null;
  /** Omitted: unchanged; null: cleared. */
  description?: string | null;
  /** Omitted: unchanged; null: refused (VALIDATION, field `deadline`). */
  deadline?: Date | null;
}
