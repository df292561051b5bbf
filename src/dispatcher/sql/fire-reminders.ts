import { Prisma } from '../../generated/prisma/client.js';
import type { Database } from '../../db/client.js';
import type { ClaimedReminder } from './claim-due-reminders.js';

/** Serialises appends to the event log so that event ids commit in increasing order (see below). */
const EVENT_LOG_LOCK = 727073690;

export interface FiredEvent {
  eventId: bigint;
  userId: string;
  taskId: string;
  reminderId: string;
  triggerAt: Date;
  firedAt: Date;
}

/**
 * Fires claimed reminders, in one transaction: each reminder still claimed by this dispatcher for
 * the same attempt, on a task that is still active, becomes SENT; one event per reminder is
 * appended to the log; one delivery row is created per external channel of its owner; and
 * `pg_notify` tells every instance, delivered if and only if all of this commits.
 *
 * A reminder whose claim was taken over (a paused worker coming back late) is left untouched, so
 * the late worker cannot record an outcome. One whose task was meanwhile cancelled, completed or
 * deleted is cancelled (or gone) rather than fired.
 *
 * The advisory lock makes event ids commit in order: a subscriber that has seen event N has
 * seen every event before N, so "replay everything after N" never skips one.
 */
export async function fireReminders(
  db: Database,
  dispatcherId: string,
  claims: readonly ClaimedReminder[],
  options: { emailEnabled: boolean },
): Promise<FiredEvent[]> {
  if (claims.length === 0) return [];
  const ids = claims.map((claim) => claim.id);
  const attempts = claims.map((claim) => claim.attempt);
  const [, rows] = await db.$transaction([
    db.$queryRaw`SELECT pg_advisory_xact_lock(${EVENT_LOG_LOCK})::text`,
    db.$queryRaw<Array<{ event_id: bigint; user_id: string; task_id: string; reminder_id: string; trigger_at: Date; fired_at: Date }>>(
      Prisma.sql`
      WITH claims AS (
        SELECT * FROM unnest(${ids}::uuid[], ${attempts}::int[]) AS c(id, attempt)
      ),
      fired AS (
        UPDATE reminders r
        SET status = 'SENT', fired_at = now(), claimed_by = NULL, claimed_at = NULL, last_error = NULL, updated_at = now()
        FROM claims c, tasks t
        WHERE r.id = c.id AND r.attempt = c.attempt AND r.status = 'PROCESSING' AND r.claimed_by = ${dispatcherId}
          AND t.id = r.task_id AND t.status = 'ACTIVE'
        RETURNING r.id, r.task_id, r.trigger_at, r.fired_at, t.owner_id, t.title, t.deadline
      ),
      dropped AS (
        UPDATE reminders r
        SET status = 'CANCELED', claimed_by = NULL, claimed_at = NULL, updated_at = now()
        FROM claims c, tasks t
        WHERE r.id = c.id AND r.attempt = c.attempt AND r.status = 'PROCESSING' AND r.claimed_by = ${dispatcherId}
          AND t.id = r.task_id AND t.status <> 'ACTIVE'
        RETURNING r.id
      ),
      appended AS (
        INSERT INTO events (user_id, task_id, reminder_id, type, occurred_at, payload)
        SELECT owner_id, task_id, id, 'reminder.fired', fired_at,
               -- Times as the API writes them (RFC 3339, UTC, milliseconds, Z).
               jsonb_build_object('taskTitle', title,
                                  'deadline', to_char(deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                  'triggerAt', to_char(trigger_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                  'firedAt', to_char(fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
        FROM fired
        ORDER BY trigger_at, id
        RETURNING id, user_id, task_id, reminder_id, occurred_at
      ),
      webhook_deliveries AS (
        INSERT INTO deliveries (event_id, user_id, channel, endpoint_id)
        SELECT a.id, a.user_id, 'WEBHOOK', w.id FROM appended a JOIN webhook_endpoints w ON w.user_id = a.user_id
        RETURNING id
      ),
      email_deliveries AS (
        INSERT INTO deliveries (event_id, user_id, channel)
        SELECT a.id, a.user_id, 'EMAIL' FROM appended a JOIN users u ON u.id = a.user_id
        WHERE ${options.emailEnabled} AND u.email IS NOT NULL
        RETURNING id
      ),
      notified AS (
        SELECT pg_notify('tickler_events', max(id)::text) FROM appended HAVING count(*) > 0
        UNION ALL
        SELECT pg_notify('tickler_deliveries', '')
        WHERE EXISTS (SELECT 1 FROM webhook_deliveries) OR EXISTS (SELECT 1 FROM email_deliveries)
      )
      SELECT a.id AS event_id, a.user_id, a.task_id, a.reminder_id, f.trigger_at, a.occurred_at AS fired_at,
             (SELECT count(*) FROM notified) AS notifications, (SELECT count(*) FROM dropped) AS dropped
      FROM appended a JOIN fired f ON f.id = a.reminder_id
      ORDER BY a.id`,
    ),
  ]);
  return rows.map((row) => ({
    eventId: row.event_id,
    userId: row.user_id,
    taskId: row.task_id,
    reminderId: row.reminder_id,
    triggerAt: row.trigger_at,
    firedAt: row.fired_at,
  }));
}
