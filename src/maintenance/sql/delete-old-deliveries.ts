import type pg from 'pg';

/**
 * Deletes up to `limit` finished (SENT or FAILED) deliveries last changed before `cutoff`, with their
 * attempts (ON DELETE CASCADE). Rows another transaction holds are skipped, never waited for.
 * Returns how many were deleted.
 */
export async function deleteOldDeliveries(client: pg.ClientBase, cutoff: Date, limit: number): Promise<number> {
  const { rows } = await client.query<{ deleted: number }>(
    `WITH batch AS (
       SELECT id FROM deliveries
       WHERE status IN ('SENT', 'FAILED') AND updated_at < $1
       ORDER BY updated_at LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), deleted AS (
       DELETE FROM deliveries d USING batch WHERE d.id = batch.id RETURNING d.id
     )
     SELECT count(*)::int AS deleted FROM deleted`,
    [cutoff, limit],
  );
  return rows[0]?.deleted ?? 0;
}
