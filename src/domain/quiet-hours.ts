/**
 * Quiet hours: a daily window of local time, in the user's zone, in which external deliveries
 * (webhook, email) wait. A reminder due inside the window still fires on time: its event is
 * logged and reaches subscriptions at trigger time; only the deliveries are created with their
 * first attempt at the window's end. The window may cross midnight (22:00 to 07:00). The end is
 * placed in the zone by the DST rule of time-zones.ts; the database applies it with
 * `tickler_quiet_hours_end(due, zone, start_minute, end_minute)` (migration 20261130130000).
 */
import type { Database } from '../db/client.js';
import { ValidationError } from './errors.js';
import { formatLocalTime, parseLocalTime } from './time-zones.js';
import type { Viewer } from './types.js';

export interface QuietHours {
  /** `HH:MM` local. */
  start: string;
  /** `HH:MM` local; before `start` for a window across midnight. */
  end: string;
}

/**
 * Sets (or with null clears) the viewer's quiet hours.
 * @throws ValidationError (`quietHours.start` / `quietHours.end`) for a malformed time or an
 *   empty window (start = end).
 */
export async function setQuietHours(db: Database, viewer: Viewer, hours: QuietHours | null): Promise<void> {
  if (hours === null) {
    await db.user.update({ where: { id: viewer.userId }, data: { quietStartMinute: null, quietEndMinute: null } });
    return;
  }
  const start = parseLocalTime(hours.start, 'quietHours.start');
  const end = parseLocalTime(hours.end, 'quietHours.end');
  if (start === end) throw new ValidationError('quiet hours must not start and end at the same time', 'quietHours.end');
  await db.user.update({ where: { id: viewer.userId }, data: { quietStartMinute: start, quietEndMinute: end } });
}

/** The stored window as the API shows it, or null. */
export function quietHoursOf(user: { quietStartMinute: number | null; quietEndMinute: number | null }): QuietHours | null {
  if (user.quietStartMinute === null || user.quietEndMinute === null) return null;
  return { start: formatLocalTime(user.quietStartMinute), end: formatLocalTime(user.quietEndMinute) };
}
