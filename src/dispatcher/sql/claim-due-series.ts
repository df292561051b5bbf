import type { Prisma } from '../../generated/prisma/client.js';

export interface DueSeries {
  id: string;
  /** The occurrence whose deadline passed: the series' newest. */
  lastOccurrence: number;
}

/**
 * Locks up to `limit` active series whose newest occurrence's deadline has passed, earliest first,
 * for the rest of the caller's transaction, leaving out the series in `except`. SKIP LOCKED passes over a series that a completion or
 * another dispatcher is advancing right now: that one creates the next occurrence, and once it
 * commits the newest occurrence's deadline lies ahead again.
 */
export async function claimDueSeries(tx: Prisma.TransactionClient, limit: number, except: readonly string[] = []): Promise<DueSeries[]> {
  const skipped = [...except];
  const rows = await tx.$queryRaw<Array<{ id: string; last_occurrence: number }>>`
    SELECT s.id, s.last_occurrence
    FROM task_series s
    JOIN tasks t ON t.series_id = s.id AND t.occurrence = s.last_occurrence
    WHERE s.status = 'ACTIVE' AND t.status = 'ACTIVE' AND t.deadline <= now() AND NOT (s.id = ANY(${skipped}::uuid[]))
    ORDER BY t.deadline
    LIMIT ${limit}
    FOR UPDATE OF s SKIP LOCKED`;
  return rows.map((row) => ({ id: row.id, lastOccurrence: row.last_occurrence }));
}
