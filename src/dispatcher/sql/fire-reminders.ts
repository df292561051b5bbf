import type { Database } from '../../db/client.js';

export interface FiredEvent {
  eventId: bigint;
  userId: string;
  taskId: string;
  reminderId: string;
  triggerAt: Date;
  firedAt: Date;
}

export interface FiredBatch {
  /** Reminders that fired (became SENT, with one event each). */
  fired: number;
  /** Due reminders whose task was no longer active: CANCELED, no event. */
  canceled: number;
  /** Greatest fired_at - trigger_at in the batch (ms), 0 when none fired. */
  maxLatenessMs: number;
  /**
   * The statement's time (database clock). Every PENDING reminder due by then that it did not take
   * was locked by someone else (another dispatcher's fire in progress, or an outside lock).
   */
  at: Date;
  /** Only with `details`: one entry per fired reminder, in event order. */
  events: FiredEvent[];
}

/**
 * Claims and fires up to `limit` due reminders in ONE autocommit statement: earliest first, rows
 * locked by anyone else skipped (`FOR UPDATE OF r SKIP LOCKED`). Each one whose task is still
 * active becomes SENT, gets one event in the log and one delivery row per external channel of its
 * owner; one whose task was cancelled or completed becomes CANCELED. `pg_notify` tells every
 * instance, delivered if and only if all of this commits.
 *
 * There is no claim that outlives the statement: no PROCESSING state, no lease, no fencing token.
 * The transaction holds its row locks only while PostgreSQL executes it; no client round trip,
 * paused process or lost connection can stretch it (a backend whose client vanished is aborted,
 * which releases the rows at once, untouched, to whoever comes next). The statement returns one
 * small row, so its commit never waits for the client to read a large result either. `details`
 * returns every fired event too, for in-process observers (tests, benchmarks).
 *
 * Commit order of the log comes from the events' xid (see src/events/sql/read-committed-events.ts),
 * so fires of different dispatchers never wait on each other. `db` is a pool (autocommit) in the
 * dispatcher; a test may pass a transaction to hold the statement's locks open.
 */
export async function fireDueReminders(
  db: Pick<Database, '$queryRaw'>,
  options: { limit: number; emailEnabled: boolean; details: boolean },
): Promise<FiredBatch> {
  const [row] = await db.$queryRaw<
    Array<{
      fired: number;
      canceled: number;
      max_lateness_ms: number | null;
      at: Date;
      events: Array<{ event_id: string; user_id: string; task_id: string; reminder_id: string; trigger_at: string; fired_at: string }> | null;
    }>
  >`
    WITH due AS (
      SELECT r.id FROM reminders r
      WHERE r.status = 'PENDING' AND r.trigger_at <= now()
      ORDER BY r.trigger_at
      LIMIT ${options.limit}
      FOR UPDATE OF r SKIP LOCKED
    ),
    -- One UPDATE for both outcomes; rows by primary key (= ANY(ARRAY(...)) keeps it an index scan
    -- whatever the planner guesses about the CTE), tasks by primary key.
    settled AS (
      UPDATE reminders r
      SET status = (CASE WHEN t.status = 'ACTIVE' THEN 'SENT' ELSE 'CANCELED' END)::"ReminderStatus",
          fired_at = CASE WHEN t.status = 'ACTIVE' THEN now() END,
          attempt = r.attempt + 1, last_error = NULL, updated_at = now()
      FROM tasks t
      WHERE r.id = ANY (ARRAY(SELECT id FROM due)) AND t.id = r.task_id
      RETURNING r.id, r.task_id, r.trigger_at, r.fired_at, r.status, t.owner_id, t.title, t.deadline
    ),
    fired AS (
      SELECT * FROM settled WHERE status = 'SENT'
    ),
    appended AS (
      INSERT INTO events (user_id, task_id, reminder_id, type, occurred_at, payload)
      SELECT owner_id, task_id, id, 'reminder.fired', fired_at,
             -- Times as jsonb writes a timestamptz: RFC 3339 with the session's UTC offset. Readers
             -- give them out as UTC with a Z (src/events/payload.ts). to_char() wrote that form here
             -- but cost 8% of a fire's database time.
             jsonb_build_object('taskTitle', title, 'deadline', deadline, 'triggerAt', trigger_at, 'firedAt', fired_at)
      FROM fired
      ORDER BY trigger_at, id
      RETURNING id, user_id, task_id, reminder_id, occurred_at
    ),
    -- External deliveries due inside the owner's quiet hours make their first attempt when those
    -- end (src/domain/quiet-hours.ts); the event and subscriptions are not delayed.
    -- Owners and endpoints are looked up per fired event by index (LATERAL ... OFFSET 0 keeps the
    -- planner from flattening it into a hash join that reads every user: the cost of a fire must
    -- grow with the batch, not with the number of users; BENCHMARKS.md, scale plans).
    webhook_deliveries AS (
      INSERT INTO deliveries (event_id, user_id, channel, endpoint_id, next_attempt_at)
      SELECT a.id, a.user_id, 'WEBHOOK', w.id, tickler_quiet_hours_end(a.occurred_at, u.time_zone, u.quiet_start_minute, u.quiet_end_minute)
      FROM appended a
      CROSS JOIN LATERAL (SELECT * FROM users WHERE id = a.user_id OFFSET 0) u
      CROSS JOIN LATERAL (SELECT id FROM webhook_endpoints WHERE user_id = a.user_id OFFSET 0) w
      RETURNING id
    ),
    email_deliveries AS (
      INSERT INTO deliveries (event_id, user_id, channel, next_attempt_at)
      SELECT a.id, a.user_id, 'EMAIL', tickler_quiet_hours_end(a.occurred_at, u.time_zone, u.quiet_start_minute, u.quiet_end_minute)
      FROM appended a
      CROSS JOIN LATERAL (SELECT * FROM users WHERE id = a.user_id OFFSET 0) u
      WHERE ${options.emailEnabled} AND u.email IS NOT NULL
      RETURNING id
    ),
    notified AS (
      SELECT pg_notify('tickler_events', '') FROM appended HAVING count(*) > 0
      UNION ALL
      SELECT pg_notify('tickler_deliveries', '')
      WHERE EXISTS (SELECT 1 FROM webhook_deliveries) OR EXISTS (SELECT 1 FROM email_deliveries)
    )
    SELECT
      (SELECT count(*)::int FROM fired) AS fired,
      (SELECT count(*)::int FROM settled WHERE status = 'CANCELED') AS canceled,
      (SELECT (extract(epoch FROM max(fired_at - trigger_at)) * 1000)::float8 FROM fired) AS max_lateness_ms,
      -- Referenced so that it runs: a plain SELECT in WITH is evaluated only when read.
      (SELECT count(*)::int FROM notified) AS notifications,
      now() AS at,
      CASE WHEN ${options.details} THEN
        (SELECT json_agg(json_build_object('event_id', a.id::text, 'user_id', a.user_id, 'task_id', a.task_id,
                                           'reminder_id', a.reminder_id, 'trigger_at', f.trigger_at, 'fired_at', a.occurred_at)
                         ORDER BY a.id)
         FROM appended a JOIN fired f ON f.id = a.reminder_id)
      END AS events`;
  return {
    fired: row?.fired ?? 0,
    canceled: row?.canceled ?? 0,
    maxLatenessMs: row?.max_lateness_ms ?? 0,
    at: row?.at ?? new Date(),
    events: (row?.events ?? []).map((event) => ({
      eventId: BigInt(event.event_id),
      userId: event.user_id,
      taskId: event.task_id,
      reminderId: event.reminder_id,
      triggerAt: new Date(event.trigger_at),
      firedAt: new Date(event.fired_at),
    })),
  };
}
