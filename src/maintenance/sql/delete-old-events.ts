import type pg from 'pg';

/**
 * Deletes up to `limit` events that occurred before `cutoff`, oldest first, with their deliveries;
 * an event with a delivery still PENDING or PROCESSING is kept until that delivery is finished.
 * Raises the `events` watermark to the highest id deleted, in the same statement, so no subscriber
 * can resume across the cut without being told. Returns how many were deleted.
 */
export async function deleteOldEvents(client: pg.ClientBase, cutoff: Date, limit: number): Promise<number> {
  const { rows } = await client.query<{ deleted: number }>(
    `WITH batch AS (
       SELECT e.id FROM events e
       WHERE e.occurred_at < $1
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('PENDING', 'PROCESSING'))
       ORDER BY e.occurred_at LIMIT $2
       FOR UPDATE OF e SKIP LOCKED
     ), deleted AS (
       DELETE FROM events e USING batch WHERE e.id = batch.id RETURNING e.id
     ), watermark AS (
       INSERT INTO retention_watermarks (name, deleted_through)
       SELECT 'events', max(id) FROM deleted HAVING count(*) > 0
       ON CONFLICT (name) DO UPDATE
         SET deleted_through = GREATEST(retention_watermarks.deleted_through, EXCLUDED.deleted_through), updated_at = now()
     )
     SELECT count(*)::int AS deleted FROM deleted`,
    [cutoff, limit],
  );
  return rows[0]?.deleted ?? 0;
}
