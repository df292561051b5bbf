import type pg from 'pg';

/**
 * Deletes up to `limit` reminders of tasks that were completed or cancelled before `cutoff` (the
 * task's last change). The tasks themselves stay; a reminder being fired at this moment (PROCESSING)
 * is left to its dispatcher. Returns how many were deleted.
 */
export async function deleteFinishedTaskReminders(client: pg.ClientBase, cutoff: Date, limit: number): Promise<number> {
  const { rows } = await client.query<{ deleted: number }>(
    `WITH batch AS (
       SELECT r.id FROM reminders r JOIN tasks t ON t.id = r.task_id
       WHERE t.status <> 'ACTIVE' AND t.updated_at < $1 AND r.status <> 'PROCESSING'
       LIMIT $2
       FOR UPDATE OF r SKIP LOCKED
     ), deleted AS (
       DELETE FROM reminders r USING batch WHERE r.id = batch.id RETURNING r.id
     )
     SELECT count(*)::int AS deleted FROM deleted`,
    [cutoff, limit],
  );
  return rows[0]?.deleted ?? 0;
}
