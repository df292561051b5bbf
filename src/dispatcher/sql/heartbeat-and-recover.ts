import type { Database } from '../../db/client.js';

export interface Recovered {
  /** False when this dispatcher's row was gone (it was paused long enough to be declared dead). */
  alive: boolean;
  /** Reminders whose claim expired or whose claimer died, handed back to be fired. */
  reminders: number;
  /** Reminders that exhausted their attempts and were marked FAILED instead. */
  remindersFailed: number;
  deliveries: number;
  /** Dispatchers declared dead and removed. */
  deadDispatchers: string[];
}

/**
 * One statement, run every heartbeat by every dispatcher: records that this dispatcher is alive,
 * declares dead the ones silent for longer than their own `dead_after_ms`, and hands back every
 * delivery claim that is either older than the lease (a zombie) or held by a dead (or unknown)
 * dispatcher. Reminders are never PROCESSING since dispatcher v2 (firing is one statement); the
 * reminder half remains for rows claimed by a dispatcher of an older version during a rolling
 * upgrade, and marks FAILED one claimed `maxAttempts` times without firing. Partial indexes over
 * PROCESSING rows keep both halves index scans.
 */
export async function heartbeatAndRecover(
  db: Database,
  dispatcherId: string,
  options: { leaseMs: number; maxAttempts: number },
): Promise<Recovered> {
  const [row] = await db.$queryRaw<
    Array<{ reminders: number; reminders_failed: number; deliveries: number; dead: string[] | null; beat: number }>
  >`
    WITH beat AS (
      UPDATE dispatchers SET heartbeat_at = now() WHERE id = ${dispatcherId} RETURNING id
    ),
    dead AS (
      DELETE FROM dispatchers
      WHERE heartbeat_at < now() - make_interval(secs => dead_after_ms / 1000.0)
        AND id <> ${dispatcherId}
      RETURNING id
    ),
    stale_reminders AS (
      SELECT id FROM reminders
      WHERE status = 'PROCESSING'
        AND (claimed_at < now() - make_interval(secs => ${options.leaseMs / 1000})
             OR claimed_by IN (SELECT id FROM dead)
             OR (claimed_by <> ${dispatcherId} AND NOT EXISTS (SELECT 1 FROM dispatchers d WHERE d.id = reminders.claimed_by)))
      FOR UPDATE SKIP LOCKED
    ),
    released_reminders AS (
      UPDATE reminders r
      SET status = (CASE WHEN r.attempt >= ${options.maxAttempts} THEN 'FAILED' ELSE 'PENDING' END)::"ReminderStatus",
          last_error = CASE WHEN r.attempt >= ${options.maxAttempts}
                            THEN 'gave up after ' || r.attempt || ' claims that never completed'
                            ELSE 'claim by ' || r.claimed_by || ' was abandoned' END,
          claimed_by = NULL, claimed_at = NULL, updated_at = now()
      FROM stale_reminders s
      WHERE r.id = s.id
      RETURNING r.status
    ),
    stale_deliveries AS (
      SELECT id FROM deliveries
      WHERE status = 'PROCESSING'
        AND (claimed_at < now() - make_interval(secs => ${options.leaseMs / 1000})
             OR claimed_by IN (SELECT id FROM dead)
             OR (claimed_by <> ${dispatcherId} AND NOT EXISTS (SELECT 1 FROM dispatchers d WHERE d.id = deliveries.claimed_by)))
      FOR UPDATE SKIP LOCKED
    ),
    released_deliveries AS (
      UPDATE deliveries d
      SET status = 'PENDING', claimed_by = NULL, claimed_at = NULL, next_attempt_at = now(), updated_at = now(),
          last_error = 'claim by ' || d.claimed_by || ' was abandoned'
      FROM stale_deliveries s
      WHERE d.id = s.id
      RETURNING d.id
    )
    SELECT
      (SELECT count(*)::int FROM released_reminders WHERE status = 'PENDING') AS reminders,
      (SELECT count(*)::int FROM released_reminders WHERE status = 'FAILED') AS reminders_failed,
      (SELECT count(*)::int FROM released_deliveries) AS deliveries,
      (SELECT array_agg(id) FROM dead) AS dead,
      (SELECT count(*)::int FROM beat) AS beat`;
  return {
    alive: (row?.beat ?? 0) > 0,
    reminders: row?.reminders ?? 0,
    remindersFailed: row?.reminders_failed ?? 0,
    deliveries: row?.deliveries ?? 0,
    deadDispatchers: row?.dead ?? [],
  };
}
