import type { Database } from '../../db/client.js';

/** On a clean shutdown: hands this dispatcher's unfinished claims back, to be taken at once by another. */
export async function releaseClaims(db: Database, dispatcherId: string): Promise<{ reminders: number; deliveries: number }> {
  const [row] = await db.$queryRaw<Array<{ reminders: number; deliveries: number }>>`
    WITH reminders_released AS (
      UPDATE reminders SET status = 'PENDING', claimed_by = NULL, claimed_at = NULL, updated_at = now()
      WHERE status = 'PROCESSING' AND claimed_by = ${dispatcherId}
      RETURNING id
    ),
    deliveries_released AS (
      UPDATE deliveries SET status = 'PENDING', claimed_by = NULL, claimed_at = NULL, next_attempt_at = now(), updated_at = now()
      WHERE status = 'PROCESSING' AND claimed_by = ${dispatcherId}
      RETURNING id
    )
    SELECT (SELECT count(*)::int FROM reminders_released) AS reminders,
           (SELECT count(*)::int FROM deliveries_released) AS deliveries`;
  return { reminders: row?.reminders ?? 0, deliveries: row?.deliveries ?? 0 };
}
