import type { Database } from '../../db/client.js';

export interface NextDue {
  /** Milliseconds until the earliest pending reminder after `since` is due (≤ 0: due now); null when none. */
  reminderInMs: number | null;
  /** Pending reminders due by `since` are still there: someone else holds them locked. */
  remindersSkipped: boolean;
  /** Milliseconds until the newest occurrence of an active series passes its deadline after `since.reminders`; null when none. */
  seriesInMs: number | null;
  /** Milliseconds until the earliest pending delivery after `since` may be tried; null when none. */
  deliveryInMs: number | null;
  /** Deliveries due by `since` are still pending (locked by someone else, or no slot was free for them). */
  deliveriesSkipped: boolean;
  /** The database clock, to turn absolute times from notifications into delays on this machine. */
  databaseNow: Date;
}

/**
 * What to sleep until. `since` is the time of this pass's last fire and claim statements: every row
 * due by then that is still pending was skipped because someone else held it locked (an outside
 * `SELECT ... FOR UPDATE`, another dispatcher mid-statement) or, for deliveries, because no slot was
 * free. Counting those as "due now" made the dispatcher spin on a row it could not take; they are
 * reported apart, so the caller retries them on a backoff instead. Delays are computed against the
 * database's clock, so a dispatcher whose clock is off neither spins nor oversleeps.
 * Index range scans on the partial indexes over PENDING rows, one row each.
 */
export async function nextDue(db: Database, since: { reminders: Date; deliveries: Date }): Promise<NextDue> {
  const [row] = await db.$queryRaw<
    Array<{ reminder_in_ms: number | null; reminders_skipped: boolean; series_in_ms: number | null; delivery_in_ms: number | null; deliveries_skipped: boolean; now: Date }>
  >`
    SELECT
      (SELECT extract(epoch FROM (min(trigger_at) - clock_timestamp())) * 1000
         FROM reminders WHERE status = 'PENDING' AND trigger_at > ${since.reminders})::float8 AS reminder_in_ms,
      -- min() over the partial index reads one entry; EXISTS here was planned as a sequential scan.
      coalesce((SELECT min(trigger_at) FROM reminders WHERE status = 'PENDING') <= ${since.reminders}, false) AS reminders_skipped,
      (SELECT extract(epoch FROM (min(t.deadline) - clock_timestamp())) * 1000
         FROM task_series s JOIN tasks t ON t.series_id = s.id AND t.occurrence = s.last_occurrence
         WHERE s.status = 'ACTIVE' AND t.status = 'ACTIVE' AND t.deadline > ${since.reminders})::float8 AS series_in_ms,
      (SELECT extract(epoch FROM (min(next_attempt_at) - clock_timestamp())) * 1000
         FROM deliveries WHERE status = 'PENDING' AND next_attempt_at > ${since.deliveries})::float8 AS delivery_in_ms,
      coalesce((SELECT min(next_attempt_at) FROM deliveries WHERE status = 'PENDING') <= ${since.deliveries}, false) AS deliveries_skipped,
      clock_timestamp() AS now`;
  return {
    reminderInMs: row?.reminder_in_ms ?? null,
    remindersSkipped: row?.reminders_skipped ?? false,
    seriesInMs: row?.series_in_ms ?? null,
    deliveryInMs: row?.delivery_in_ms ?? null,
    deliveriesSkipped: row?.deliveries_skipped ?? false,
    databaseNow: row?.now ?? new Date(),
  };
}
