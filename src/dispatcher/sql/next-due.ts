import type { Database } from '../../db/client.js';

export interface NextDue {
  /** Milliseconds until the earliest pending reminder is due (≤ 0: due now); null when none. */
  reminderInMs: number | null;
  /** Milliseconds until the earliest pending delivery may be tried; null when none. */
  deliveryInMs: number | null;
  /** The database clock, to turn absolute times from notifications into delays on this machine. */
  databaseNow: Date;
}

/**
 * What to sleep until. Delays are computed by the database against its own clock, so a dispatcher
 * whose clock is off neither wakes early and spins nor sleeps past the due time. Deliveries to
 * `saturatedEndpoints` are left out: they cannot be claimed until one of ours finishes, which
 * wakes the dispatcher anyway; counting them would make it spin.
 */
export async function nextDue(db: Database, saturatedEndpoints: readonly string[] = []): Promise<NextDue> {
  const saturated = [...saturatedEndpoints];
  const [row] = await db.$queryRaw<Array<{ reminder_in_ms: number | null; delivery_in_ms: number | null; now: Date }>>`
    SELECT
      (SELECT extract(epoch FROM (min(trigger_at) - clock_timestamp())) * 1000
         FROM reminders WHERE status = 'PENDING')::float8 AS reminder_in_ms,
      (SELECT extract(epoch FROM (min(next_attempt_at) - clock_timestamp())) * 1000
         FROM deliveries WHERE status = 'PENDING'
           AND (endpoint_id IS NULL OR NOT (endpoint_id = ANY(${saturated}::uuid[]))))::float8 AS delivery_in_ms,
      clock_timestamp() AS now`;
  return {
    reminderInMs: row?.reminder_in_ms ?? null,
    deliveryInMs: row?.delivery_in_ms ?? null,
    databaseNow: row?.now ?? new Date(),
  };
}
