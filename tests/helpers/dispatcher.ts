/**
 * Helpers for tests/dispatcher.test.ts: dispatchers in child processes (the real `npm run worker`
 * and `npm start` entry points) and in this process, bulk seeding of due reminders straight into
 * the database, and the checks that every reminder fired exactly once.
 * Everything started here is registered, so `cleanUpDispatchers()` can end it even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createDispatchClient, createPrismaClient, type Database } from '../../src/db/client.js';
import { PgListener } from '../../src/db/listener.js';
import { migrate } from '../../src/db/migrate.js';
import { Dispatcher, type DispatcherOptions } from '../../src/dispatcher/dispatcher.js';
import { createScratchDatabase, testDatabaseUrl } from './database.js';
import { countRawStatements } from './counting.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let ownDatabaseUrl: string | undefined;

/** The database these helpers (and the dispatchers they start) work on. */
export function dispatcherDatabaseUrl(): string {
  return ownDatabaseUrl ?? testDatabaseUrl();
}

/**
 * Gives the calling test file a migrated database of its own, and returns the function that drops it.
 * The dispatcher tests need one: the lease and deadAfterMs they use (1 s) apply to every dispatcher
 * and claim in a database, so on the shared one they would declare other files' dispatchers (3 s
 * heartbeats) dead and take over their reminders and deliveries.
 */
export async function useOwnDatabase(): Promise<() => Promise<void>> {
  const scratch = await createScratchDatabase();
  await migrate(scratch.url);
  ownDatabaseUrl = scratch.url;
  return async () => {
    ownDatabaseUrl = undefined;
    await scratch.drop();
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined/false; throws the last reason on timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatchers in this process.

export interface LocalDispatcher {
  dispatcher: Dispatcher;
  db: Database;
  listener: PgListener;
  /** Statements ($queryRaw, $executeRaw) the dispatcher has sent so far: a busy loop shows here. */
  statements(): number;
  /** Stops the dispatcher (once), then closes its listener and database client. */
  stop(): Promise<void>;
}

const locals = new Set<LocalDispatcher>();

export async function startLocalDispatcher(
  options: DispatcherOptions = {},
  connection: { databaseUrl?: string; listenerUrl?: string; listenerPingMs?: number } = {},
): Promise<LocalDispatcher> {
  const url = connection.databaseUrl ?? dispatcherDatabaseUrl();
  const db = createDispatchClient(url);
  const counted = countRawStatements(db);
  const listener = new PgListener(connection.listenerUrl ?? url, { pingMs: connection.listenerPingMs });
  const dispatcher = new Dispatcher(counted.db, listener, { id: `test-local-${randomUUID().slice(0, 8)}`, ...options });
  let stopped: Promise<void> | undefined;
  const local: LocalDispatcher = {
    dispatcher,
    db,
    listener,
    statements: counted.count,
    stop: () =>
      (stopped ??= (async () => {
        try {
          await dispatcher.stop();
        } finally {
          locals.delete(local);
          await listener.close();
          await db.$disconnect();
        }
      })()),
  };
  locals.add(local);
  await dispatcher.start();
  return local;
}


// ---------------------------------------------------------------------------------------------
// Real processes: `npm run worker` and `npm start`, as `node --import tsx <entry point>` (not the tsx
// CLI, which SIGKILLs its child ~30 ms after relaying a signal), configured through the documented
// environment variables.

export type JsonLine = Record<string, unknown>;

export interface ChildOptions {
  batchSize?: number;
  leaseSeconds?: number;
  heartbeatMs?: number;
  deadAfterMs?: number;
  idlePollMs?: number;
  listenerPingMs?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Defaults to this file's database. */
  databaseUrl?: string;
  /** More environment variables (PORT, DISPATCHER, MIGRATE_ON_START...). */
  env?: NodeJS.ProcessEnv;
}

export interface ChildProcessHandle {
  /** The process (node itself: signals reach Tickler, not a wrapper). */
  readonly pid: number;
  /** Every JSON line it printed so far. */
  readonly lines: readonly JsonLine[];
  stderr(): string;
  /** Resolves with the first line (already seen or still to come) that matches. */
  waitForLine(what: string, predicate: (line: JsonLine) => boolean, timeoutMs?: number): Promise<JsonLine>;
  /** Sends a signal to the process (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ChildDispatcher extends ChildProcessHandle {
  /** The dispatcher's id, as in the dispatchers table and its logs. */
  readonly id: string;
}

const children = new Set<{ process: ChildProcess; exited: Promise<unknown> }>();

/** Lines whose `msg` is `message`. */
export const withMessage =
  (message: string) =>
  (line: JsonLine): boolean =>
    line.msg === message;

/** Starts `node --import tsx <entry>` with `env` on top of this process' environment. */
export function spawnEntryPoint(entry: 'src/dispatcher/main.ts' | 'src/server/main.ts', env: NodeJS.ProcessEnv): ChildProcessHandle {
  // Its own process group, so that cleanup can kill it and anything it started in one go.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: JsonLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return; // not one of ours
      }
      if (isRecord(parsed)) {
        lines.push(parsed);
        for (const waiter of [...waiters]) waiter();
      }
    });
  }
  let exitState: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitState = { code, signal };
      resolve(exitState);
      for (const waiter of [...waiters]) waiter();
    });
  });
  const entryRecord = { process: child, exited };
  children.add(entryRecord);
  void exited.then(() => children.delete(entryRecord));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${entry}`);

  const waitForLine = (what: string, predicate: (line: JsonLine) => boolean, timeoutMs = 30_000): Promise<JsonLine> =>
    new Promise<JsonLine>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const found = lines.find(predicate);
        if (found) {
          finish();
          resolve(found);
        } else if (exitState) {
          finish();
          reject(new Error(`${entry} exited (${JSON.stringify(exitState)}) before ${what}; stderr: ${stderr.slice(-2000)}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    pid,
    lines,
    stderr: () => stderr,
    waitForLine,
    signal: (signal) => {
      if (!exitState) process.kill(pid, signal);
    },
    stop: async (timeoutMs = 30_000) => {
      if (!exitState) process.kill(pid, 'SIGTERM');
      const result = await Promise.race([exited, sleep(timeoutMs).then(() => undefined)]);
      if (!result) throw new Error(`${entry} did not stop within ${timeoutMs} ms`);
      return result.code;
    },
    exited,
  };
}

/** The environment that configures a worker (`npm run worker`) as `options` say. */
export function workerEnv(options: ChildOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: options.databaseUrl ?? dispatcherDatabaseUrl(),
    LOG_LEVEL: options.logLevel ?? 'info',
    MIGRATE_ON_START: 'false',
  };
  const put = (name: string, value: number | undefined) => {
    if (value !== undefined) env[name] = String(value);
  };
  put('DISPATCHER_BATCH_SIZE', options.batchSize);
  put('REMINDER_LEASE_SECONDS', options.leaseSeconds);
  put('DISPATCHER_HEARTBEAT_MS', options.heartbeatMs);
  put('DISPATCHER_DEAD_AFTER_MS', options.deadAfterMs);
  put('DISPATCHER_IDLE_POLL_MS', options.idlePollMs);
  put('LISTENER_PING_MS', options.listenerPingMs);
  return { ...env, ...options.env };
}

/** `npm run worker` in a process of its own; resolves once its dispatcher runs. */
export async function spawnChildDispatcher(options: ChildOptions = {}, startTimeoutMs = 60_000): Promise<ChildDispatcher> {
  const child = spawnEntryPoint('src/dispatcher/main.ts', workerEnv(options));
  const running = await child.waitForLine('the worker to run', withMessage('Tickler worker is running'), startTimeoutMs);
  return { ...child, id: String(running.dispatcher) };
}

/** `reminders fired` counts a process logged, summed. */
export function firedCount(child: ChildProcessHandle): number {
  return child.lines.filter(withMessage('reminders fired')).reduce((sum, line) => sum + Number(line.count), 0);
}

function isRecord(value: unknown): value is JsonLine {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}


/** Kills every child process group and stops every local dispatcher, whatever state they are in. */
export async function cleanUpDispatchers(): Promise<void> {
  for (const { process: child } of children) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all([...children].map((entry) => Promise.race([entry.exited, sleep(5000)])));
  children.clear();
  await Promise.all(
    [...locals].map((local) =>
      Promise.race([local.stop(), sleep(10_000)]).catch((error: unknown) => {
        console.error('could not stop a local dispatcher', error);
      }),
    ),
  );
  locals.clear();
}

// ---------------------------------------------------------------------------------------------
// Data.

let pool: pg.Pool | undefined;

/** A small pool on the test database for setup and checks; closed by closeTestPool(). */
export function testPool(): pg.Pool {
  if (pool === undefined) {
    pool = new pg.Pool({ connectionString: dispatcherDatabaseUrl(), max: 4 });
    // pool.end() resolves before its connections have closed; a scratch database dropped WITH
    // (FORCE) right after terminates them, and an unheard idle-connection error would throw.
    pool.on('error', () => undefined);
  }
  return pool;
}

export async function closeTestPool(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.end();
}

/** A user of this test alone, straight in the table. */
export async function createUser(prefix = 'dispatcher'): Promise<{ userId: string; subject: string }> {
  const subject = `${prefix}-${randomUUID()}`;
  const { rows } = await testPool().query<{ id: string }>('INSERT INTO users (subject) VALUES ($1) RETURNING id', [subject]);
  const userId = rows[0]?.id;
  if (!userId) throw new Error('no user');
  return { userId, subject };
}

/**
 * `count` active tasks of `userId` (deadline in a day), each with one reminder at now() + triggerInMs
 * (negative: already due; the API forbids that, the table does not). One statement: one NOTIFY.
 * With `claim`, the reminders are born PROCESSING, claimed by `claim.by` `claimedAgoMs` ago, so
 * that no running dispatcher can take them as ordinary pending work first.
 */
export async function seedReminders(
  userId: string,
  count: number,
  triggerInMs: number,
  claim?: { by: string; attempt: number; claimedAgoMs: number },
): Promise<string[]> {
  const { rows } = await testPool().query<{ id: string }>(
    `WITH t AS (
       INSERT INTO tasks (owner_id, title, deadline)
       SELECT $1::uuid, 'dispatcher test ' || g, now() + interval '1 day' FROM generate_series(1, $2::int) g
       RETURNING id
     )
     INSERT INTO reminders (task_id, trigger_at, status, claimed_by, claimed_at, attempt)
     SELECT id, now() + make_interval(secs => $3::float8 / 1000),
            (CASE WHEN $4::text IS NULL THEN 'PENDING' ELSE 'PROCESSING' END)::"ReminderStatus",
            $4::text, CASE WHEN $4::text IS NULL THEN NULL ELSE now() - make_interval(secs => $5::float8 / 1000) END,
            coalesce($6::int, 0)
     FROM t
     RETURNING id`,
    [userId, count, triggerInMs, claim?.by ?? null, claim?.claimedAgoMs ?? 0, claim?.attempt ?? null],
  );
  return rows.map((row) => row.id);
}

/** The dispatchers row of `id`, if any. */
export async function dispatcherRow(id: string): Promise<{ id: string; heartbeat_at: Date } | undefined> {
  const { rows } = await testPool().query<{ id: string; heartbeat_at: Date }>('SELECT id, heartbeat_at FROM dispatchers WHERE id = $1', [id]);
  return rows[0];
}

export interface ReminderRow {
  id: string;
  task_id: string;
  status: string;
  attempt: number;
  claimed_by: string | null;
  claimed_at: Date | null;
  trigger_at: Date;
  fired_at: Date | null;
  last_error: string | null;
}

export async function reminderRows(ids: readonly string[]): Promise<Map<string, ReminderRow>> {
  const { rows } = await testPool().query<ReminderRow>(
    `SELECT id, task_id, status::text AS status, attempt, claimed_by, claimed_at, trigger_at, fired_at, last_error
     FROM reminders WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

export interface EventRow {
  id: string;
  reminder_id: string;
  occurred_at: Date;
}

/** Events of `userId`'s reminders, optionally only of `reminderIds`. */
export async function eventRows(userId: string, reminderIds?: readonly string[]): Promise<EventRow[]> {
  const { rows } = await testPool().query<EventRow>(
    `SELECT id::text, reminder_id, occurred_at FROM events
     WHERE user_id = $1::uuid AND ($2::uuid[] IS NULL OR reminder_id = ANY($2::uuid[]))
     ORDER BY id`,
    [userId, reminderIds ?? null],
  );
  return rows;
}

export interface FiringSummary {
  total: number;
  sent: number;
  /** Reminders with no event, and with more than one. */
  withoutEvent: string[];
  firedTwice: string[];
  /** Latest fired_at among them (ms), or null when none fired. */
  lastFiredAt: number | null;
}

/** How `ids` (all `userId`'s) fired: SENT count, events per reminder (grouped in the database). */
export async function firingSummary(userId: string, ids: readonly string[]): Promise<FiringSummary> {
  // One statement, so the reminders and the events are read in one snapshot: two queries on two
  // connections could see all reminders SENT but not yet the events that committed with them.
  const { rows } = await testPool().query<{ sent: number; last_fired_at: Date | null; events: Array<{ reminder_id: string; events: number }> | null }>(
    `SELECT
       (SELECT count(*) FILTER (WHERE status = 'SENT')::int FROM reminders WHERE id = ANY($2::uuid[])) AS sent,
       (SELECT max(fired_at) FROM reminders WHERE id = ANY($2::uuid[])) AS last_fired_at,
       (SELECT json_agg(json_build_object('reminder_id', reminder_id, 'events', events))
          FROM (SELECT reminder_id, count(*)::int AS events FROM events
                WHERE user_id = $1::uuid AND reminder_id = ANY($2::uuid[])
                GROUP BY reminder_id) AS per_reminder) AS events`,
    [userId, ids],
  );
  const row = rows[0];
  const counts = new Map((row?.events ?? []).map((entry) => [entry.reminder_id, entry.events]));
  const lastFiredAt = row?.last_fired_at ?? null;
  return {
    total: ids.length,
    sent: row?.sent ?? 0,
    withoutEvent: ids.filter((id) => !counts.has(id)),
    firedTwice: [...counts].filter(([, count]) => count > 1).map(([id]) => id),
    lastFiredAt: lastFiredAt ? new Date(lastFiredAt).getTime() : null,
  };
}

/**
 * The hooks of a dispatcher test file: its own migrated database (useOwnDatabase), a Prisma client
 * on it for the domain calls a test makes (`.db`, ready inside tests), LOG_LEVEL warn for the
 * in-process dispatchers (their warnings, not their chatter), and every dispatcher a test started
 * cleaned up after it, even when it failed.
 */
export function useDispatcherTestDatabase(): { readonly db: Database } {
  let db: Database | undefined;
  let dropOwnDatabase: (() => Promise<void>) | undefined;
  let previousLogLevel: string | undefined;
  beforeAll(async () => {
    previousLogLevel = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL ??= 'warn';
    dropOwnDatabase = await useOwnDatabase();
    db = createPrismaClient(dispatcherDatabaseUrl(), { poolSize: 4 });
  });
  afterEach(cleanUpDispatchers);
  afterAll(async () => {
    await cleanUpDispatchers();
    await db?.$disconnect();
    await closeTestPool();
    await dropOwnDatabase?.();
    if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLogLevel;
  });
  return {
    get db(): Database {
      if (db === undefined) throw new Error('the dispatcher test database is ready only inside tests');
      return db;
    },
  };
}
