import type { StoredReminderFired } from '../payload.js';

/**
 * A place in the event log's total order: commit order, as (writing transaction id, event id).
 * Event ids alone are not in commit order (two fires may commit in the opposite order of their
 * ids); (xid, id) read below the watermark is, for every reader on every instance.
 */
export interface LogPosition {
  xid: bigint;
  id: bigint;
}

export const LOG_START: LogPosition = { xid: 0n, id: 0n };

export function isAfter(a: LogPosition, b: LogPosition): boolean {
  return a.xid > b.xid || (a.xid === b.xid && a.id > b.id);
}

/** One row of `events` as the readers select it (xid as text: Prisma reads bigint either way). */
export interface EventRow {
  id: bigint;
  xid: bigint;
  user_id: string;
  task_id: string;
  reminder_id: string;
  occurred_at: Date;
  payload: StoredReminderFired;
}
