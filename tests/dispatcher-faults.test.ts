/**
 * Faults of PostgreSQL itself, on a server of this file's own (helpers/scratch-postgres.ts), never
 * the shared one: a crash (`pg_ctl stop -m immediate`) in the middle of a burst, a crash while a
 * webhook is in flight so that its outcome cannot be recorded, a server and a worker started
 * before their PostgreSQL, and the event log's watermark held back by a long transaction (which
 * holds back every reader of the cluster: on the shared server it would delay other files' events). The processes are the real entry points (`npm run worker`, `npm start`).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createDispatchClient } from '../src/db/client.js';
import { PgListener } from '../src/db/listener.js';
import { migrate } from '../src/db/migrate.js';
import { EventHub, type ReminderFiredEvent } from '../src/events/hub.js';
import { cleanUpDispatchers, eventually, firedCount, spawnChildDispatcher, spawnEntryPoint, withMessage, workerEnv } from './helpers/dispatcher.js';
import { countRawStatements } from './helpers/counting.js';
import { createScratchPostgres, freePort, type ScratchPostgres } from './helpers/scratch-postgres.js';

let server: ScratchPostgres;
let pool: pg.Pool | undefined;

beforeAll(async () => {
  server = await createScratchPostgres();
}, 120_000);

afterEach(async () => {
  await cleanUpDispatchers();
  await pool?.end().catch(() => undefined);
  pool = undefined;
});

afterAll(async () => {
  await server?.destroy();
});

/** A fresh, migrated database on the scratch server (started), and a pool on it. */
async function freshDatabase(): Promise<{ url: string; pool: pg.Pool }> {
  await server.start();
  const name = `tickler_fault_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: server.url() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = server.url(name);
  await migrate(url);
  pool = new pg.Pool({ connectionString: url, max: 3 });
  // The pool's idle connections die with every crash; that is expected here.
  pool.on('error', () => undefined);
  return { url, pool };
}

/** A user with `count` due reminders (an hour overdue), one task each; returns the reminder ids. */
async function seedDue(db: pg.Pool, count: number): Promise<{ userId: string; ids: string[] }> {
  const { rows: users } = await db.query<{ id: string }>(`INSERT INTO users (subject, email) VALUES ($1, NULL) RETURNING id`, [`fault-${randomUUID()}`]);
  const userId = users[0]?.id ?? '';
  const { rows } = await db.query<{ id: string }>(
    `WITH t AS (
       INSERT INTO tasks (owner_id, title, deadline)
       SELECT $1::uuid, 'fault ' || g, now() + interval '1 day' FROM generate_series(1, $2::int) g RETURNING id
     )
     INSERT INTO reminders (task_id, trigger_at) SELECT id, now() - interval '1 hour' FROM t RETURNING id`,
    [userId, count],
  );
  return { userId, ids: rows.map((row) => row.id) };
}

async function summary(db: pg.Pool, ids: readonly string[]): Promise<{ sent: number; events: number; twice: number; lastFiredAt: number }> {
  const { rows } = await db.query<{ sent: number; events: number; twice: number; last_fired_at: Date | null }>(
    `SELECT (SELECT count(*)::int FROM reminders WHERE id = ANY($1::uuid[]) AND status = 'SENT') AS sent,
            (SELECT count(*)::int FROM events WHERE reminder_id = ANY($1::uuid[])) AS events,
            (SELECT count(*)::int FROM (SELECT reminder_id FROM events WHERE reminder_id = ANY($1::uuid[]) GROUP BY reminder_id HAVING count(*) > 1) d) AS twice,
            (SELECT max(fired_at) FROM reminders WHERE id = ANY($1::uuid[])) AS last_fired_at`,
    [ids],
  );
  const row = rows[0];
  return { sent: row?.sent ?? 0, events: row?.events ?? 0, twice: row?.twice ?? 0, lastFiredAt: row?.last_fired_at?.getTime() ?? 0 };
}

describe('PostgreSQL crashes', () => {
  it('restarted with -m immediate in the middle of a burst: every reminder fires exactly once, seconds after it is back', async () => {
    const { url, pool: db } = await freshDatabase();
    const { ids } = await seedDue(db, 20_000);
    const worker = await spawnChildDispatcher({ databaseUrl: url, batchSize: 1000 });
    await worker.waitForLine('the worker to fire a batch', withMessage('reminders fired'), 60_000);
    await server.crash();
    await worker.waitForLine('the worker to notice', withMessage('dispatcher pass failed; retrying'), 30_000);
    await server.start();
    const backAt = Date.now();
    const done = await eventually(
      'all 20000 reminders to fire',
      async () => {
        const current = await summary(db, ids).catch(() => undefined);
        return current && current.sent === ids.length ? current : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const afterBackMs = done.lastFiredAt - backAt;
    console.log(`PostgreSQL -m immediate mid-burst: all 20000 fired ${afterBackMs} ms after it was back (worker logged ${firedCount(worker)})`);
    expect(done).toMatchObject({ sent: 20_000, events: 20_000, twice: 0 });
    // Its own retry, not the lease running out: below the lease this worker was configured with.
    expect(afterBackMs).toBeLessThan(loadConfig(workerEnv({ databaseUrl: url, batchSize: 1000 })).dispatcher.leaseMs);
    expect(firedCount(worker)).toBe(20_000);
  }, 300_000);

  it('a webhook delivered while PostgreSQL crashes: the outcome is recorded seconds after it is back, under the same webhook-id', async () => {
    const { url, pool: db } = await freshDatabase();
    const received: Array<{ webhookId: string; at: number }> = [];
    let crashed: Promise<void> | undefined;
    const receiver = http.createServer((request, response) => {
      request.resume();
      received.push({ webhookId: String(request.headers['webhook-id']), at: Date.now() });
      // The first request takes the database down before it is answered: the worker then holds an
      // outcome it cannot record.
      crashed ??= server.crash();
      void crashed.then(() => response.writeHead(204).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const { userId, ids } = await seedDue(db, 1);
      await db.query(`INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, $2, $3)`, [
        userId,
        `http://127.0.0.1:${port}/hook`,
        `whsec_${Buffer.from(randomUUID()).toString('base64')}`,
      ]);
      const worker = await spawnChildDispatcher({ databaseUrl: url, env: { WEBHOOK_ALLOW_LOOPBACK: 'true' } });
      // The log line is the state this test needs: the outcome is in hand and cannot be written.
      await worker.waitForLine('the worker to fail to record the outcome', withMessage('could not record delivery outcome; retrying'), 60_000);
      await server.start();
      const backAt = Date.now();
      const delivery = await eventually(
        'the delivery to be settled',
        async () => {
          const { rows } = await db
            .query<{ status: string; updated_at: Date; attempt: number }>(
              `SELECT d.status::text AS status, d.updated_at, d.attempt FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.reminder_id = $1`,
              [ids[0]],
            )
            .catch(() => ({ rows: [] }));
          return rows[0]?.status === 'SENT' ? rows[0] : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      const settledAfterMs = delivery.updated_at.getTime() - backAt;
      console.log(`delivery outcome across a crash: settled ${settledAfterMs} ms after PostgreSQL was back; ${received.length} request(s)`);
      // The worker's own retry, not the lease running out: below the lease it was configured with.
      expect(settledAfterMs).toBeLessThan(loadConfig(workerEnv({ databaseUrl: url, env: { WEBHOOK_ALLOW_LOOPBACK: 'true' } })).dispatcher.leaseMs);
      expect(received.length).toBeGreaterThanOrEqual(1);
      expect(new Set(received.map((request) => request.webhookId)).size).toBe(1);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  }, 300_000);
});

describe('the event log watermark', () => {
  it('holds live events back while an older write transaction runs anywhere in the cluster, then delivers them in commit order, none lost', async () => {
    const { url, pool: db } = await freshDatabase();
    const dispatchDb = createDispatchClient(url);
    const listener = new PgListener(url);
    const reads = countRawStatements(dispatchDb);
    const hub = new EventHub(reads.db, listener);
    const other = new pg.Client({ connectionString: server.url() });
    await other.connect();
    try {
      await hub.start();
      const { rows: users } = await db.query<{ id: string }>(`INSERT INTO users (subject) VALUES ($1) RETURNING id`, [`watermark-${randomUUID()}`]);
      const userId = users[0]?.id ?? '';
      const received: ReminderFiredEvent[] = [];
      const subscription = hub.subscribe(userId, null, () => true);
      const reading = (async () => {
        for await (const event of subscription) received.push(event);
      })();
      const appendEvent = (title: string) =>
        db.query(
          `WITH e AS (INSERT INTO events (user_id, task_id, reminder_id, type, payload)
                      VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'reminder.fired',
                              jsonb_build_object('taskTitle', $2::text, 'deadline', '2030-01-01T00:00:00.000Z', 'triggerAt', '2029-12-31T00:00:00.000Z', 'firedAt', '2029-12-31T00:00:00.000Z'))
                      RETURNING id)
           SELECT pg_notify('tickler_events', '') FROM e`,
          [userId, title],
        );
      await appendEvent('before');
      await eventually('the first event', async () => (received.length === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });

      // A write transaction in another database of the cluster, left open.
      await other.query('BEGIN');
      await other.query('CREATE TEMP TABLE holder (x int)');
      await other.query('SELECT pg_current_xact_id()');
      await appendEvent('held back');
      // The hub had its chance: two reads of the log after the event committed (one in flight at the
      // commit may have started before it), each of which saw the event and held it back.
      const readsAtCommit = reads.count();
      await eventually('the hub to read the log twice', async () => (reads.count() >= readsAtCommit + 2 ? true : undefined), { timeoutMs: 30_000, intervalMs: 10 });
      // Committed and notified, but not final yet: an older transaction could still commit events below it.
      expect(received.map((event) => event.taskTitle)).toEqual(['before']);
      await other.query('COMMIT');
      const releasedAt = Date.now();
      await eventually('the held-back event', async () => (received.length === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
      console.log(`watermark: an event held back by an open transaction arrived ${Date.now() - releasedAt} ms after it ended`);
      expect(received.map((event) => event.taskTitle)).toEqual(['before', 'held back']);
      await subscription.return?.();
      await reading;
    } finally {
      await other.end().catch(() => undefined);
      await hub.stop();
      await listener.close();
      await dispatchDb.$disconnect();
    }
  }, 120_000);
});

describe('start-up before the database', () => {
  it('a server and a worker started before their PostgreSQL wait for it (with /health answering), then serve and fire', async () => {
    await server.crash(); // whatever a previous test left running: this one starts with no server at all
    const name = `tickler_early_${randomUUID().slice(0, 8)}`;
    const url = server.url(name);
    const port = await freePort();
    const apiServer = spawnEntryPoint('src/server/main.ts', {
      ...workerEnv({ databaseUrl: url }),
      MIGRATE_ON_START: 'true',
      PORT: String(port),
      HOST: '127.0.0.1',
      DISPATCHER: 'false',
    });
    const worker = spawnEntryPoint('src/dispatcher/main.ts', { ...workerEnv({ databaseUrl: url }), MIGRATE_ON_START: 'true' });
    await apiServer.waitForLine('the server to wait', withMessage('database not reachable yet; waiting'), 60_000);
    await worker.waitForLine('the worker to wait', withMessage('database not reachable yet; waiting'), 60_000);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(503);

    await server.start();
    const admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    await apiServer.waitForLine('the server to be ready', withMessage('Tickler is ready'), 60_000);
    await worker.waitForLine('the worker to run', withMessage('Tickler worker is running'), 60_000);
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);

    pool = new pg.Pool({ connectionString: url, max: 2 });
    pool.on('error', () => undefined);
    const { ids } = await seedDue(pool, 3);
    const done = await eventually(
      'the reminders to fire',
      async () => {
        const current = await summary(pool as pg.Pool, ids);
        return current.sent === 3 ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(done).toMatchObject({ events: 3, twice: 0 });
    // The server runs a dispatcher too: between them they logged exactly the 3 firings (a log line
    // may trail the commit it reports, so wait for it rather than read it once).
    const logged = await eventually('the 3 firings to be logged', async () => {
      const count = firedCount(worker) + firedCount(apiServer);
      return count >= 3 ? count : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(logged).toBe(3);
    expect(await apiServer.stop()).toBe(0);
    expect(await worker.stop()).toBe(0);
  }, 300_000);
});
