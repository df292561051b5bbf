import type { Database } from '../../db/client.js';
import { LOG_START, type LogPosition } from './event-row.js';

/**
 * The last final position of the log: the greatest (xid, id) below the watermark. A hub with no
 * subscribers moves here without reading the events in between. A backward index scan, one row.
 */
export async function logHead(db: Database): Promise<LogPosition> {
  const [row] = await db.$queryRaw<Array<{ xid: bigint; id: bigint }>>`
    SELECT xid, id FROM events
    WHERE xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY xid DESC, id DESC
    LIMIT 1`;
  return row ? { xid: row.xid, id: row.id } : LOG_START;
}
