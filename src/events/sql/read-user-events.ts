import type { Database } from '../../db/client.js';
import type { EventRow, LogPosition } from './event-row.js';

/**
 * Replay: up to `limit` of one user's events after `after`, in (xid, id) order and below the
 * watermark (see read-committed-events.ts). An index range scan on events(user_id, xid, id).
 */
export async function readUserEvents(db: Database, userId: string, after: LogPosition, limit: number): Promise<EventRow[]> {
  return db.$queryRaw<EventRow[]>`
    SELECT id, xid, user_id, task_id, reminder_id, occurred_at, payload FROM events
    WHERE user_id = ${userId}::uuid
      AND (xid, id) > (${after.xid}::bigint, ${after.id}::bigint)
      AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY xid, id
    LIMIT ${limit}`;
}
