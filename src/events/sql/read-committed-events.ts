import type { Database } from '../../db/client.js';
import type { EventRow, LogPosition } from './event-row.js';

export interface CommittedEvents {
  rows: EventRow[];
  /**
   * True when events exist at or above the watermark: written by transactions that were still
   * running (or by ones newer than the oldest running transaction). They are not lost, only not
   * final yet; nothing notifies when the older transaction ends, so the reader must look again.
   */
  heldBack: boolean;
}

/**
 * Up to `limit` events after `after` in (xid, id) order, only from transactions older than the
 * oldest transaction still running anywhere in the cluster (`pg_snapshot_xmin`): that prefix of the
 * log is final, so a reader that walks it in order never skips an event committing later.
 * An index range scan on events(xid, id).
 */
export async function readCommittedEvents(db: Database, after: LogPosition, limit: number): Promise<CommittedEvents> {
  const rows = await db.$queryRaw<Array<EventRow & { held_back: boolean }>>`
    WITH watermark AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
    SELECT e.id, e.xid, e.user_id, e.task_id, e.reminder_id, e.occurred_at, e.payload, false AS held_back
    FROM (
      SELECT * FROM events
      WHERE (xid, id) > (${after.xid}::bigint, ${after.id}::bigint) AND xid < (SELECT xmin FROM watermark)
      ORDER BY xid, id
      LIMIT ${limit}
    ) e
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, true
    WHERE EXISTS (SELECT 1 FROM events WHERE xid >= (SELECT xmin FROM watermark))
    ORDER BY held_back, xid, id`;
  const heldBack = rows.length > 0 && rows[rows.length - 1]?.held_back === true;
  return { rows: heldBack ? rows.slice(0, -1) : rows, heldBack };
}
