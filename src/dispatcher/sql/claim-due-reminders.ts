import type { Database } from '../../db/client.js';

export interface ClaimedReminder {
  id: string;
  /** The claim's attempt number: completing the claim must present it (fencing). */
  attempt: number;
  triggerAt: Date;
}

/**
 * Claims up to `limit` due reminders, earliest first, for this dispatcher. SKIP LOCKED lets any
 * number of dispatchers claim at once without waiting on, or taking, each other's rows.
 */
export async function claimDueReminders(db: Database, dispatcherId: string, limit: number): Promise<ClaimedReminder[]> {
  const rows = await db.$queryRaw<Array<{ id: string; attempt: number; trigger_at: Date }>>`
    UPDATE reminders
    SET status = 'PROCESSING', claimed_by = ${dispatcherId}, claimed_at = now(), attempt = attempt + 1, updated_at = now()
    WHERE id IN (
      SELECT id FROM reminders
      WHERE status = 'PENDING' AND trigger_at <= now()
      ORDER BY trigger_at
      FOR UPDATE SKIP LOCKED
      LIMIT ${limit}
    )
    RETURNING id, attempt, trigger_at`;
  return rows.map((row) => ({ id: row.id, attempt: row.attempt, triggerAt: row.trigger_at }));
}
