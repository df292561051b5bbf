import type { Database } from '../../db/client.js';

export type DeliveryOutcome =
  | { kind: 'sent' }
  | { kind: 'retry'; inMs: number }
  | { kind: 'failed' };

/**
 * Records one attempt (always) and the delivery's new state (only while this dispatcher still holds
 * the claim for this attempt: a late worker whose claim was taken over changes nothing). Returns
 * whether the state was recorded.
 */
export async function recordDeliveryOutcome(
  db: Database,
  dispatcherId: string,
  delivery: { id: string; attempt: number },
  attempt: { durationMs: number; statusCode: number | null; error: string | null },
  outcome: DeliveryOutcome,
): Promise<boolean> {
  const status = outcome.kind === 'sent' ? 'SENT' : outcome.kind === 'failed' ? 'FAILED' : 'PENDING';
  const retryInMs = outcome.kind === 'retry' ? outcome.inMs : 0;
  const [row] = await db.$queryRaw<Array<{ updated: number }>>`
    WITH logged AS (
      INSERT INTO delivery_attempts (delivery_id, attempt, duration_ms, status_code, error)
      SELECT ${delivery.id}::uuid, ${delivery.attempt}, ${attempt.durationMs}, ${attempt.statusCode}, ${attempt.error}
      WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ${delivery.id}::uuid)
      RETURNING id
    ),
    updated AS (
      UPDATE deliveries
      SET status = ${status}::"DeliveryStatus",
          delivered_at = CASE WHEN ${status} = 'SENT' THEN now() ELSE NULL END,
          -- A retry that would fall inside the owner's quiet hours waits for their end too.
          next_attempt_at = (SELECT tickler_quiet_hours_end(now() + make_interval(secs => ${retryInMs / 1000}), u.time_zone, u.quiet_start_minute, u.quiet_end_minute)
                             FROM users u WHERE u.id = deliveries.user_id),
          last_error = ${attempt.error},
          claimed_by = NULL, claimed_at = NULL, updated_at = now()
      WHERE id = ${delivery.id}::uuid AND status = 'PROCESSING' AND claimed_by = ${dispatcherId} AND attempt = ${delivery.attempt}
      RETURNING id
    )
    SELECT (SELECT count(*)::int FROM updated) AS updated, (SELECT count(*) FROM logged) AS logged`;
  return (row?.updated ?? 0) > 0;
}
