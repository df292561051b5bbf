import type { Database } from '../../db/client.js';
import type { StoredReminderFired } from '../../events/payload.js';
import type { DeliveryChannel } from '../../notifiers/notifier.js';

export interface ClaimedDelivery {
  id: string;
  attempt: number;
  channel: DeliveryChannel;
  eventId: bigint;
  userId: string;
  taskId: string;
  reminderId: string;
  occurredAt: Date;
  payload: StoredReminderFired;
  endpointId: string | null;
  endpointUrl: string | null;
  endpointSecret: string | null;
  email: string | null;
}

/**
 * Claims up to `limit` deliveries whose next attempt is due, giving each webhook endpoint at most
 * `perEndpoint` in flight here (counting `inFlight`, those already running): one slow receiver
 * cannot take every slot. Candidates are locked first (SKIP LOCKED), then ranked per endpoint.
 */
export async function claimDueDeliveries(
  db: Database,
  dispatcherId: string,
  limit: number,
  perEndpoint: number,
  inFlight: ReadonlyMap<string, number>,
): Promise<{ claimed: ClaimedDelivery[]; at: Date }> {
  const busyEndpoints = [...inFlight.keys()];
  const busyCounts = [...inFlight.values()];
  const rows = await db.$queryRaw<
    Array<{
      id: string;
      attempt: number;
      channel: DeliveryChannel;
      event_id: bigint;
      user_id: string;
      task_id: string;
      reminder_id: string;
      occurred_at: Date;
      payload: ClaimedDelivery['payload'];
      endpoint_id: string | null;
      endpoint_url: string | null;
      endpoint_secret: string | null;
      email: string | null;
      at: Date;
    }>
  >`
    WITH candidates AS (
      SELECT id, endpoint_id, next_attempt_at FROM deliveries
      WHERE status = 'PENDING' AND next_attempt_at <= now()
      ORDER BY next_attempt_at
      FOR UPDATE SKIP LOCKED
      LIMIT ${limit * 4}
    ),
    busy AS (
      SELECT * FROM unnest(${busyEndpoints}::uuid[], ${busyCounts}::int[]) AS b(endpoint_id, in_flight)
    ),
    ranked AS (
      SELECT c.id, c.endpoint_id, c.next_attempt_at,
             row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at) + coalesce(b.in_flight, 0) AS slot
      FROM candidates c LEFT JOIN busy b ON b.endpoint_id = c.endpoint_id
    ),
    chosen AS (
      SELECT id FROM ranked
      WHERE endpoint_id IS NULL OR slot <= ${perEndpoint}
      ORDER BY next_attempt_at
      LIMIT ${limit}
    ),
    claimed AS (
      UPDATE deliveries
      SET status = 'PROCESSING', claimed_by = ${dispatcherId}, claimed_at = now(), attempt = attempt + 1, updated_at = now()
      WHERE id IN (SELECT id FROM chosen)
      RETURNING id, attempt, channel, event_id, endpoint_id
    )
    SELECT c.id, c.attempt, c.channel::text AS channel, c.event_id, e.user_id, e.task_id, e.reminder_id, e.occurred_at,
           e.payload, c.endpoint_id, w.url AS endpoint_url, w.secret AS endpoint_secret, u.email, now() AS at
    FROM claimed c
    JOIN events e ON e.id = c.event_id
    JOIN users u ON u.id = e.user_id
    LEFT JOIN webhook_endpoints w ON w.id = c.endpoint_id
    UNION ALL
    -- Always one row with the statement's time, which next-due compares with (see next-due.ts).
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, now()`;
  const claimed = rows.filter((row) => row.id !== null).map((row) => ({
    id: row.id,
    attempt: row.attempt,
    channel: row.channel,
    eventId: row.event_id,
    userId: row.user_id,
    taskId: row.task_id,
    reminderId: row.reminder_id,
    occurredAt: row.occurred_at,
    payload: row.payload,
    endpointId: row.endpoint_id,
    endpointUrl: row.endpoint_url,
    endpointSecret: row.endpoint_secret,
    email: row.email,
  }));
  return { claimed, at: rows.find((row) => row.id === null)?.at ?? new Date() };
}
