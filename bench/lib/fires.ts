/**
 * What the database shows about firing, whichever process fired: for each reminder, when the
 * transaction that appended its event committed (`pg_xact_commit_timestamp`, the bench server runs
 * with track_commit_timestamp=on), and, with the write audit installed, which database role wrote
 * each row. Each worker process of a scenario connects as a role of its own (`workerUrl`), so a
 * write is charged to the process that made it, even one that was stopped or killed meanwhile.
 *
 * Lateness here = commit time of the event minus the trigger time, both on the database clock:
 * the moment any subscriber, webhook worker or other instance could see the reminder had fired.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { withClient } from './database.js';

/** A login role per worker process (superuser: it must run whatever the dispatcher runs), same password as the admin. */
export async function ensureWorkerRoles(adminUrl: string, names: readonly string[]): Promise<void> {
  const password = decodeURIComponent(new URL(adminUrl).password);
  await withClient(adminUrl, async (client) => {
    for (const name of names) {
      const { rows } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
      const literal = password.replace(/'/g, "''");
      if (rows.length === 0) await client.query(`CREATE ROLE "${name}" LOGIN SUPERUSER PASSWORD '${literal}'`);
    }
  });
}

/** `url` (a database on the bench server), connecting as `role` instead of the admin user. */
export function workerUrl(url: string, role: string): string {
  const next = new URL(url);
  next.username = role;
  return next.toString();
}


/**
 * Statement-level audit triggers (transition tables, one INSERT per statement) that record, per
 * row written to reminders (UPDATE), events (INSERT), deliveries (INSERT, UPDATE) and
 * delivery_attempts (INSERT): the role that wrote it, the row, and a reference (the event's
 * reminder, the reminder's or delivery's new status, the attempt's delivery). The audit row commits
 * with the write, so its xmin gives the write's commit time.
 */
export async function installWriteAudit(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`
      CREATE TABLE bench_writes (
        by_role text NOT NULL, tbl text NOT NULL, op text NOT NULL, row_id text NOT NULL, ref text,
        at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE INDEX ON bench_writes (tbl, row_id);
      CREATE FUNCTION bench_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_TABLE_NAME = 'events' THEN
          INSERT INTO bench_writes (by_role, tbl, op, row_id, ref) SELECT current_user, TG_TABLE_NAME, TG_OP, n.id::text, n.reminder_id::text FROM new_rows n;
        ELSIF TG_TABLE_NAME = 'delivery_attempts' THEN
          INSERT INTO bench_writes (by_role, tbl, op, row_id, ref) SELECT current_user, TG_TABLE_NAME, TG_OP, n.id::text, n.delivery_id::text FROM new_rows n;
        ELSE
          INSERT INTO bench_writes (by_role, tbl, op, row_id, ref) SELECT current_user, TG_TABLE_NAME, TG_OP, n.id::text, n.status::text FROM new_rows n;
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_audit_events AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_audit();
      CREATE TRIGGER bench_audit_reminders AFTER UPDATE ON reminders REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_audit();
      CREATE TRIGGER bench_audit_deliveries_insert AFTER INSERT ON deliveries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_audit();
      CREATE TRIGGER bench_audit_deliveries_update AFTER UPDATE ON deliveries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_audit();
      CREATE TRIGGER bench_audit_attempts AFTER INSERT ON delivery_attempts REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_audit();
    `);
  });
}

export interface ReminderFire {
  reminderId: string;
  triggerAtMs: number;
  /** Events appended for it (1 = fired exactly once; 0 = not fired). */
  events: number;
  /** Commit time (epoch ms, database clock) of its first event; NaN when not fired. */
  committedAtMs: number;
  /** Role that appended its first event (with the audit installed), else null. */
  firedBy: string | null;
}

/** Every reminder of `ownerId` with its fire, as the database shows it. */
export async function reminderFires(url: string, ownerId: string, audited = false): Promise<ReminderFire[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string; trigger_ms: string; events: number; committed_ms: string | null; by_role: string | null }>(
      `SELECT r.id, (extract(epoch FROM r.trigger_at) * 1000)::float8::text AS trigger_ms, count(e.id)::int AS events,
              (extract(epoch FROM min(pg_xact_commit_timestamp(e.xmin))) * 1000)::float8::text AS committed_ms,
              ${audited ? `(SELECT w.by_role FROM bench_writes w WHERE w.tbl = 'events' AND w.row_id = min(e.id)::text LIMIT 1)` : 'NULL::text'} AS by_role
       FROM reminders r JOIN tasks t ON t.id = r.task_id
       LEFT JOIN events e ON e.reminder_id = r.id
       WHERE t.owner_id = $1
       GROUP BY r.id, r.trigger_at`,
      [ownerId],
    );
    return rows.map((row) => ({
      reminderId: row.id,
      triggerAtMs: Number(row.trigger_ms),
      events: row.events,
      committedAtMs: row.committed_ms === null ? NaN : Number(row.committed_ms),
      firedBy: row.by_role,
    }));
  });
}

/** Lateness (ms) of each fired reminder: commit of its event minus its trigger time. */
/**
 * The fires of `ownerId`'s reminders once their window has passed: waits until `windowEndMs` (+1 s),
 * then re-reads every 500 ms while any is unfired, for up to 30 s more.
 */
export async function firesAfterWindow(url: string, ownerId: string, windowEndMs: number): Promise<ReminderFire[]> {
  await sleep(Math.max(0, windowEndMs + 1000 - Date.now()));
  let fires = await reminderFires(url, ownerId);
  const graceUntil = Date.now() + 30_000;
  while (fires.some((fire) => fire.events === 0) && Date.now() < graceUntil) {
    await sleep(500);
    fires = await reminderFires(url, ownerId);
  }
  return fires;
}

export function latenessOf(fires: readonly ReminderFire[]): number[] {
  return fires.filter((fire) => fire.events > 0).map((fire) => fire.committedAtMs - fire.triggerAtMs);
}

/**
 * Reminders a dispatcher held at a moment: claimed by it and not fired (a PROCESSING state, where the
 * design has one). Read without naming columns, so it also runs on a schema without claim columns
 * (then nothing is held between statements).
 */
export async function remindersClaimedBy(url: string, dispatcherId: string): Promise<Set<string>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `SELECT r.id FROM reminders r WHERE to_jsonb(r) ->> 'status' = 'PROCESSING' AND to_jsonb(r) ->> 'claimed_by' = $1`,
      [dispatcherId],
    );
    return new Set(rows.map((row) => row.id));
  });
}

export interface AuditedWrite {
  byRole: string;
  table: string;
  op: string;
  rowId: string;
  ref: string | null;
  /** Commit time, epoch ms. */
  committedAtMs: number;
}

/** Audited writes by `role` that committed after `afterMs` (epoch ms). */
export async function writesBy(url: string, role: string, afterMs: number): Promise<AuditedWrite[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ by_role: string; tbl: string; op: string; row_id: string; ref: string | null; committed_ms: string }>(
      `SELECT by_role, tbl, op, row_id, ref, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8::text AS committed_ms
       FROM bench_writes WHERE by_role = $1 AND pg_xact_commit_timestamp(xmin) > to_timestamp($2 / 1000.0)`,
      [role, afterMs],
    );
    return rows.map((row) => ({ byRole: row.by_role, table: row.tbl, op: row.op, rowId: row.row_id, ref: row.ref, committedAtMs: Number(row.committed_ms) }));
  });
}

export interface BackendState {
  state: string;
  /** The backend is inside a transaction (state active or idle in transaction). */
  inTransaction: boolean;
  query: string;
}

/**
 * Waits (polling pg_stat_activity every few ms, up to `timeoutMs`) until a backend of `role` other than
 * its LISTEN connection is inside a transaction, and returns what it was doing; null if none was.
 * With `writing`, only a transaction that has written (has a transaction id, so holds row locks).
 * Used to stop or kill a worker at the worst moment: while its database work is half done.
 */
export async function waitForBackendInTransaction(adminUrl: string, role: string, timeoutMs: number, writing = false): Promise<BackendState | null> {
  return withClient(adminUrl, async (client) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ state: string; query: string }>(
        `SELECT state, query FROM pg_stat_activity
         WHERE usename = $1 AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')
           AND query NOT ILIKE 'LISTEN%' AND (NOT $2 OR backend_xid IS NOT NULL)
         LIMIT 1`,
        [role, writing],
      );
      const row = rows[0];
      if (row) return { state: `${row.state}${writing ? ', writing' : ''}`, inTransaction: true, query: row.query.replace(/\s+/g, ' ').trim().slice(0, 80) };
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return null;
  });
}
