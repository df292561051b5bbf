/**
 * Tickler under benchmark: seeding users, tasks and reminders with plain SQL (fast, and not what
 * is measured), an in-process dispatcher with a no-op sink, dispatcher child processes
 * (bench/fixtures/dispatcher.ts), a Tickler server with a graphql-ws subscriber, and the
 * measuring helpers the scenarios share (waiting, pg_stat_statements, commits and WAL).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createTokenVerifier, signToken } from '../../src/auth/tokens.js';
import { DEVELOPMENT_JWT_SECRET } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { createDispatchClient, createPrismaClient, type Database } from '../../src/db/client.js';
import { PgListener } from '../../src/db/listener.js';
import { readMigrations } from '../../src/db/migrate.js';
import { Dispatcher, type DispatcherOptions } from '../../src/dispatcher/dispatcher.js';
import type { FiredEvent } from '../../src/dispatcher/sql/fire-reminders.js';
import { EventHub } from '../../src/events/hub.js';
import { WebhookNotifier } from '../../src/notifiers/webhook.js';
import { createTicklerServer, type TicklerServer } from '../../src/server/app.js';
import { spawnFixture, type Fixture } from '../fixtures/protocol.js';
import { readCounters, walBytesBetween, withClient, type DatabaseCounters } from './database.js';

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `done` every `everyMs` until it is true or `timeoutMs` passed; returns whether it became true. */
export async function waitUntil(done: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

export interface SeededReminders {
  ownerId: string;
  /** The owner's token subject: sign a token for it to subscribe as the owner. */
  subject: string;
  count: number;
}

/**
 * One user owning one active task per reminder (deadline an hour after the reminder), one reminder
 * per trigger time (epoch ms, kept to the millisecond). The reminders go in with a single INSERT
 * per chunk, so the insert trigger sends one `tickler_reminders` notification per chunk, as a bulk
 * import through the API would.
 */
export async function seedReminders(url: string, triggerTimesMs: readonly number[], chunkSize = 25_000): Promise<SeededReminders> {
  const subject = `bench-owner-${randomUUID()}`;
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string }>('INSERT INTO users (subject) VALUES ($1) RETURNING id', [subject]);
    const ownerId = rows[0]?.id;
    if (!ownerId) throw new Error('could not create the bench user');
    for (let start = 0; start < triggerTimesMs.length; start += chunkSize) {
      const chunk = triggerTimesMs.slice(start, start + chunkSize);
      // Ids as the product makes them (the column default, UUID version 7: time-ordered, so rows created
      // together share index pages; prisma/migrations/20261130140000_uuid_v7).
      const { rows: idRows } = await client.query<{ id: string }>('SELECT tickler_uuid_v7()::text AS id FROM generate_series(1, $1::int)', [chunk.length]);
      const ids = idRows.map((row) => row.id);
      const times = chunk.map((ms) => new Date(ms).toISOString());
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO tasks (id, owner_id, title, deadline)
         SELECT id, $1::uuid, 'Bench task', at + interval '1 hour' FROM unnest($2::uuid[], $3::timestamptz[]) AS s(id, at)`,
        [ownerId, ids, times],
      );
      await client.query(
        `INSERT INTO reminders (task_id, trigger_at) SELECT id, at FROM unnest($1::uuid[], $2::timestamptz[]) AS s(id, at)`,
        [ids, times],
      );
      await client.query('COMMIT');
    }
    return { ownerId, subject, count: triggerTimesMs.length };
  });
}

export interface ReminderCounts {
  pending: number;
  processing: number;
  sent: number;
  events: number;
  /** Reminders with more than one event in the log: fired more than once. */
  firedMoreThanOnce: number;
}

export async function reminderCounts(url: string): Promise<ReminderCounts> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ pending: number; processing: number; sent: number; events: number; twice: number }>(
      `SELECT
         (SELECT count(*)::int FROM reminders WHERE status = 'PENDING') AS pending,
         (SELECT count(*)::int FROM reminders WHERE status = 'PROCESSING') AS processing,
         (SELECT count(*)::int FROM reminders WHERE status = 'SENT') AS sent,
         (SELECT count(*)::int FROM events) AS events,
         (SELECT count(*)::int FROM (SELECT reminder_id FROM events GROUP BY reminder_id HAVING count(*) > 1) AS d) AS twice`,
    );
    const row = rows[0];
    return {
      pending: row?.pending ?? 0,
      processing: row?.processing ?? 0,
      sent: row?.sent ?? 0,
      events: row?.events ?? 0,
      firedMoreThanOnce: row?.twice ?? 0,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The no-op sink
// ---------------------------------------------------------------------------------------------

/** Lateness (ms) of every reminder that reached a sink: time the sink was called minus its trigger time. */
export class LatenessRecorder {
  readonly lateness: number[] = [];
  /** Date.now() of the latest call. */
  lastAt = 0;

  record(triggerAtMs: number, at = Date.now()): void {
    this.lateness.push(at - triggerAtMs);
    this.lastAt = Math.max(this.lastAt, at);
  }

  get count(): number {
    return this.lateness.length;
  }

  /** Dispatcher `onFired` that records each event and does nothing else. */
  readonly onFired = (events: readonly FiredEvent[]): void => {
    const now = Date.now();
    for (const event of events) this.record(event.triggerAt.getTime(), now);
  };
}

// ---------------------------------------------------------------------------------------------
// In-process dispatcher
// ---------------------------------------------------------------------------------------------

/**
 * Notifiers as `npm run worker` configures them without SMTP: the webhook notifier. It only costs
 * a query per pass for due deliveries (the bench users have no endpoints); leaving it out would
 * make Tickler cheaper than it runs in production.
 */
export function productionNotifiers(): WebhookNotifier[] {
  return [new WebhookNotifier({ policy: { allowPrivate: false, allowLoopback: false } })];
}

export interface InProcessDispatcher {
  dispatcher: Dispatcher;
  db: Database;
  listener: PgListener;
  /** Stops the dispatcher and closes its pool and listener. */
  stop(): Promise<void>;
}

/** The dispatcher settings, pool and listener `npm run worker` builds when nothing is configured (src/boot.ts). */
function defaultDispatch(url: string): { db: Database; listener: PgListener; options: DispatcherOptions } {
  const { dispatcher: settings } = loadConfig({ NODE_ENV: 'development' });
  return {
    db: createDispatchClient(url, settings.poolSize),
    listener: new PgListener(url, { pingMs: settings.listenerPingMs }),
    options: {
      batchSize: settings.batchSize,
      idlePollMs: settings.idlePollMs,
      leaseMs: settings.leaseMs,
      heartbeatMs: settings.heartbeatMs,
      deadAfterMs: settings.deadAfterMs,
      delivery: { timeoutMs: settings.deliveryTimeoutMs, maxAttempts: settings.deliveryMaxAttempts, backoffBaseMs: settings.deliveryBackoffBaseMs },
      notifiers: productionNotifiers(),
    },
  };
}

/** A dispatcher in this process as `npm run worker` has it: its own small pool, the pinged listener, default settings. */
export async function startDispatcher(url: string, options: DispatcherOptions = {}): Promise<InProcessDispatcher> {
  const { db, listener, options: defaults } = defaultDispatch(url);
  const dispatcher = new Dispatcher(db, listener, { ...defaults, ...options });
  const stop = async () => {
    await dispatcher.stop(1000).catch(() => undefined);
    await listener.close();
    await db.$disconnect();
  };
  try {
    await dispatcher.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { dispatcher, db, listener, stop };
}

// ---------------------------------------------------------------------------------------------
// Dispatcher processes
// ---------------------------------------------------------------------------------------------

export interface DispatcherProcessOptions {
  batchSize?: number;
  /** Start the dispatcher only on a `start` command (after `ready`), to time the work alone. */
  waitForStart?: boolean;
  /** Webhooks may go to loopback addresses (the bench's receiver). */
  allowLoopback?: boolean;
  /** Deliveries in flight in this process, and per endpoint (defaults 32 and 4). */
  deliveryConcurrency?: number;
  perEndpoint?: number;
  /** Report the server's notices on the dispatcher's pool as `notice` messages (auto_explain plans). */
  reportNotices?: boolean;
  /** Before `ready`, work off this database's backlog of `count` reminders (JIT warm-up; see backlog.ts). */
  warmUp?: { url: string; count: number };
  name?: string;
}

/**
 * A dispatcher in a child process (bench/fixtures/dispatcher.ts) with a no-op sink that reports
 * `done` counts; pool, listener and every setting not given here as `npm run worker` has them.
 */
export function spawnDispatcher(url: string, options: DispatcherProcessOptions = {}): Fixture {
  const args = [`--database-url=${url}`];
  if (options.batchSize !== undefined) args.push(`--batch-size=${options.batchSize}`);
  if (options.waitForStart) args.push('--wait-for-start');
  if (options.allowLoopback) args.push('--allow-loopback');
  if (options.deliveryConcurrency !== undefined) args.push(`--delivery-concurrency=${options.deliveryConcurrency}`);
  if (options.perEndpoint !== undefined) args.push(`--per-endpoint=${options.perEndpoint}`);
  if (options.reportNotices) args.push('--report-notices');
  if (options.warmUp) args.push(`--warm-up-url=${options.warmUp.url}`, `--warm-up-count=${options.warmUp.count}`);
  return spawnFixture('dispatcher.ts', args, { name: options.name ?? 'tickler dispatcher' });
}

// ---------------------------------------------------------------------------------------------
// A Tickler server and a graphql-ws subscriber
// ---------------------------------------------------------------------------------------------

export interface RunningTickler {
  wsUrl: string;
  db: Database;
  events: EventHub;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/**
 * What `npm start` runs, in this process: the API (HTTP + graphql-ws) on its pool, and the EventHub
 * and a dispatcher on the dispatcher's own pool and listener (src/server/assemble.ts), with
 * `onFired` as an extra in-process sink.
 */
export async function startTicklerServer(url: string, dispatcherOptions: DispatcherOptions = {}): Promise<RunningTickler> {
  const db = createPrismaClient(url);
  const { db: dispatchDb, listener, options: defaults } = defaultDispatch(url);
  const events = new EventHub(dispatchDb, listener);
  const dispatcher = new Dispatcher(dispatchDb, listener, { ...defaults, ...dispatcherOptions });
  let server: TicklerServer | undefined;
  const stop = async () => {
    await server?.close(1000).catch(() => undefined);
    await dispatcher.stop(1000).catch(() => undefined);
    await events.stop().catch(() => undefined);
    await listener.close();
    await db.$disconnect();
    await dispatchDb.$disconnect();
  };
  try {
    await events.start();
    server = createTicklerServer({
      db,
      events,
      webhookPolicy: { allowPrivate: false, allowLoopback: false },
      verifyToken: createTokenVerifier({ secret: DEVELOPMENT_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined }),
      migrationNames: (await readMigrations()).map((migration) => migration.name),
      graphiql: false,
    });
    const address = await server.listen(0, '127.0.0.1');
    await dispatcher.start();
    return { wsUrl: `ws://127.0.0.1:${address.port}/graphql`, db, events, dispatcher, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

const REMINDER_FIRED = /* GraphQL */ `
  subscription BenchReminderFired {
    reminderFired {
      id
      reminderId
      triggerAt
    }
  }
`;

export interface Subscriber {
  recorder: LatenessRecorder;
  errors: string[];
  dispose(): Promise<void>;
}

/**
 * A graphql-ws client subscribed to `reminderFired` as `subject`; records, for every event, the
 * time it arrived minus the reminder's trigger time. Resolves once the socket is acknowledged and
 * the server had a moment to register the subscription (the protocol does not acknowledge that).
 */
export async function subscribeReminderFired(wsUrl: string, subject: string): Promise<Subscriber> {
  const token = await signToken(DEVELOPMENT_JWT_SECRET, subject);
  const recorder = new LatenessRecorder();
  const errors: string[] = [];
  let connected!: () => void;
  const isConnected = new Promise<void>((resolve) => (connected = resolve));
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: (error) => errors.push(describeError(error)),
    on: { connected: () => connected() },
  });
  client.subscribe<{ reminderFired: { id: string; reminderId: string; triggerAt: string } }>(
    { query: REMINDER_FIRED },
    {
      next: (result) => {
        if (result.errors?.length) errors.push(...result.errors.map((error) => error.message));
        const event = result.data?.reminderFired;
        if (event) recorder.record(Date.parse(event.triggerAt));
      },
      error: (error) => errors.push(describeError(error)),
      complete: () => undefined,
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`subscriber did not connect: ${errors.join('; ')}`)), 10_000);
  });
  try {
    await Promise.race([isConnected, timedOut]);
  } catch (error) {
    await client.dispose();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  await sleep(300);
  return {
    recorder,
    errors,
    dispose: async () => {
      await client.dispose();
    },
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(describeError).join('; ');
  if (typeof error === 'object' && error !== null && 'code' in error) {
    return `socket closed with ${String(error.code)}${'reason' in error ? ` ${String(error.reason)}` : ''}`;
  }
  return JSON.stringify(error);
}

// ---------------------------------------------------------------------------------------------
// What the database did: statements, commits, WAL
// ---------------------------------------------------------------------------------------------

/** pg_stat_statements lives in the server's `postgres` database (the library is preloaded by startBenchServer). */
export async function ensureStatementStats(adminUrl: string): Promise<void> {
  await withClient(adminUrl, (client) => client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
}

/**
 * Statements executed so far in the database of `url` (sum of pg_stat_statements `calls` for its
 * dbid), read from the admin database so that reading does not count itself. Take it twice and
 * subtract: entries are per (user, database, query), so a snapshot difference is exactly what that
 * database's clients ran in between.
 */
export async function statementCalls(adminUrl: string, url: string): Promise<number> {
  return (await statementTotals(adminUrl, url)).calls;
}

/**
 * Statements and the WAL they wrote, so far, in the database of `url` (pg_stat_statements, by dbid).
 * Unlike the server's WAL position, this leaves out autovacuum and other databases' work.
 */
export async function statementTotals(adminUrl: string, url: string): Promise<{ calls: number; walBytes: number }> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ calls: string; wal_bytes: string }>(
      `SELECT coalesce(sum(calls), 0)::text AS calls, coalesce(sum(wal_bytes), 0)::text AS wal_bytes FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
      [name],
    );
    return { calls: Number(rows[0]?.calls ?? 0), walBytes: Number(rows[0]?.wal_bytes ?? 0) };
  });
}

/** The statements that ran most in one database, for notes ("what does it poll with?"). */
export async function topStatements(adminUrl: string, url: string, limit = 5): Promise<Array<{ calls: number; query: string }>> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ calls: string; query: string }>(
      `SELECT s.calls::text AS calls, s.query FROM pg_stat_statements AS s
       WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = $1)
       ORDER BY s.calls DESC LIMIT $2`,
      [name, limit],
    );
    return rows.map((row) => ({ calls: Number(row.calls), query: row.query.replace(/\s+/g, ' ').slice(0, 120) }));
  });
}

export interface WorkCost {
  commits: number;
  walBytes: number;
}

/**
 * Commits in the database and WAL written by the server between `before` and now. Call it after
 * the workers have disconnected: a backend flushes its transaction counts to pg_stat_database when
 * it exits (or at most once a second while busy), so a live one may not have reported yet.
 */
export async function costSince(url: string, before: DatabaseCounters): Promise<WorkCost> {
  await sleep(1500);
  const after = await readCounters(url);
  return { commits: after.xactCommit - before.xactCommit, walBytes: await walBytesBetween(url, before.walLsn, after.walLsn) };
}

export { readCounters };

// ---------------------------------------------------------------------------------------------
// Webhook endpoints
// ---------------------------------------------------------------------------------------------

/** Registers a webhook endpoint for `ownerId` directly in the database (what createWebhookEndpoint stores). */
export async function addWebhookEndpoint(url: string, ownerId: string, endpointUrl: string): Promise<string> {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      'INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, $2, $3) RETURNING id',
      [ownerId, endpointUrl, secret],
    );
    if (!rows[0]) throw new Error('could not add the webhook endpoint');
    return rows[0].id;
  });
}
