import type { Database } from '../../db/client.js';
import { LOG_START, type LogPosition } from './event-row.js';

/**
 * Turns a client's cursor (an event id, as `reminderFired(after:)` takes it) into its place in the
 * log. An id that is not stored (made up, "0", or a number a rolled-back fire drew from the
 * sequence) takes the place of the nearest stored event below it, or the start of the log: replay
 * then begins at the first event the client cannot have seen. Primary-key scans only.
 */
export async function positionOfEvent(db: Database, eventId: bigint): Promise<LogPosition> {
  const [row] = await db.$queryRaw<Array<{ xid: bigint; id: bigint }>>`
    SELECT xid, id FROM events WHERE id <= ${eventId} ORDER BY id DESC LIMIT 1`;
  return row ? { xid: row.xid, id: row.id } : LOG_START;
}
