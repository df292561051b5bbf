/**
 * What the API server (`npm start`) and a standalone dispatcher (`npm run worker`) share at start:
 * configuration, the database (migrated), the notification listener, the notifiers and a dispatcher;
 * and the order in which they stop.
 */
import pg from 'pg';
import { loadConfig, type Config } from './config.js';
import { createDispatchClient, createPrismaClient, type Database } from './db/client.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { PgListener } from './db/listener.js';
import { migrate } from './db/migrate.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { logStartupError, type Lifecycle } from './lifecycle.js';
import { log } from './logger.js';
import { EmailNotifier } from './notifiers/email.js';
import type { Notifier } from './notifiers/notifier.js';
import { WebhookNotifier } from './notifiers/webhook.js';

export interface Runtime {
  config: Config;
  database: DatabaseHandle;
  /** The API's pool. */
  db: Database;
  /**
   * A small pool apart from the API's, for the dispatcher and the event hub: API load cannot starve
   * them. In the API server only the hub uses it; its dispatcher thread opens a pool of its own.
   */
  dispatchDb: Database;
  listener: PgListener;
  notifiers: Notifier[];
}

/**
 * Configuration, the database's location and the clients, without waiting for the database to
 * answer (see prepareDatabase): a server can listen, and answer /health, before it does. With a
 * lifecycle, what it opens is registered to be closed (an embedded PostgreSQL included) even if
 * start-up fails or is interrupted later.
 */
export async function boot(lifecycle?: Lifecycle): Promise<Runtime> {
  const config = loadConfig();
  const database = await openDatabase(config);
  lifecycle?.onStop(() => database.stop());
  lifecycle?.throwIfStopping();
  const db = createPrismaClient(database.url);
  const dispatchDb = createDispatchClient(database.url, config.dispatcher.poolSize);
  const listener = new PgListener(database.url, { pingMs: config.dispatcher.listenerPingMs });
  const notifiers = createNotifiers(config);
  lifecycle?.onStop(() => closeClients({ db, dispatchDb, listener, notifiers }));
  return { config, database, db, dispatchDb, listener, notifiers };
}

const WAIT_FIRST_MS = 250;
const WAIT_MAX_MS = 5000;

/**
 * Waits until the database answers (unreachable, still starting, restarting, refusing
 * connections: all retried, with backoff doubling from 250 ms to 5 s and one log line per try),
 * then applies pending migrations when configured to. Returns false if `cancelled()` first, or
 * after `maxTries` failed tries.
 */
export async function prepareDatabase(
  runtime: Runtime,
  { cancelled = () => false, maxTries = Infinity }: { cancelled?: () => boolean; maxTries?: number } = {},
): Promise<boolean> {
  const url = runtime.database.url;
  let delayMs = WAIT_FIRST_MS;
  for (let tries = 1; ; tries++) {
    if (cancelled()) return false;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      if (tries > 1) log.info('database is reachable', { tries });
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (tries >= maxTries) return false;
      log.warn('database not reachable yet; waiting', { error: error instanceof Error ? error.message : String(error), tries, inMs: delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, WAIT_MAX_MS);
    }
  }
  if (runtime.config.migrateOnStart && !cancelled()) {
    const result = await migrate(url);
    log.info('migrations', { applied: result.applied, alreadyApplied: result.alreadyApplied.length });
  }
  return !cancelled();
}

/** The external channels configured: webhooks always, email when SMTP_URL is set. */
export function createNotifiers(config: Config): Notifier[] {
  const notifiers: Notifier[] = [new WebhookNotifier({ policy: config.webhooks })];
  if (config.email.smtpUrl) notifiers.push(new EmailNotifier({ smtpUrl: config.email.smtpUrl, from: config.email.from }));
  return notifiers;
}

/**
 * A dispatcher on the given pool and listener, with the configured settings. `npm run worker` runs
 * one on its main thread; the API server runs one on a thread of its own (dispatcher/thread.ts).
 */
export function createDispatcher(runtime: Pick<Runtime, 'config' | 'dispatchDb' | 'listener' | 'notifiers'>): Dispatcher {
  const { config } = runtime;
  return new Dispatcher(runtime.dispatchDb, runtime.listener, {
    batchSize: config.dispatcher.batchSize,
    idlePollMs: config.dispatcher.idlePollMs,
    leaseMs: config.dispatcher.leaseMs,
    heartbeatMs: config.dispatcher.heartbeatMs,
    deadAfterMs: config.dispatcher.deadAfterMs,
    delivery: {
      timeoutMs: config.dispatcher.deliveryTimeoutMs,
      maxAttempts: config.dispatcher.deliveryMaxAttempts,
      backoffBaseMs: config.dispatcher.deliveryBackoffBaseMs,
    },
    notifiers: runtime.notifiers,
  });
}

/** Closes what boot() opened, last first. */
export async function shutdownRuntime(runtime: Runtime): Promise<void> {
  await closeClients(runtime);
  await runtime.database.stop();
}

async function closeClients(runtime: Pick<Runtime, 'db' | 'dispatchDb' | 'listener' | 'notifiers'>): Promise<void> {
  await runtime.listener.close();
  await Promise.allSettled(runtime.notifiers.map((notifier) => notifier.close?.()));
  await runtime.db.$disconnect();
  await runtime.dispatchDb.$disconnect();
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0 (1 if stopping failed). */
export function onShutdownSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    stop(signal).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}

/** Logs a start-up failure the way an operator needs it, and exits 1. */
export function exitOnStartupError(error: unknown): never {
  logStartupError(error);
  process.exit(1);
}

interface Startable {
  start(): Promise<void>;
}

/**
 * Starts each component, retrying with backoff while the database is unreachable or not migrated,
 * without holding up the caller. `cancel` stops the retrying (at shutdown) and resolves once no
 * start() is under way any more, so the components' stop() that follows sees them as they are.
 */
export function startWhenPossible(components: readonly Startable[], started: () => void = () => undefined): { cancel: () => Promise<void> } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;
  const startOne = async (component: Startable, delayMs: number): Promise<void> => {
    try {
      await component.start();
    } catch (error) {
      if (cancelled) return;
      log.warn('could not start yet; retrying', { component: component.constructor.name, error, inMs: delayMs });
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        timer = setTimeout(resolve, delayMs);
      });
      if (!cancelled) await startOne(component, Math.min(delayMs * 2, 30_000));
    }
  };
  const running = (async () => {
    for (const component of components) {
      if (cancelled) return;
      await startOne(component, 500);
    }
    if (!cancelled) started();
  })();
  return {
    cancel: async () => {
      cancelled = true;
      clearTimeout(timer);
      wakeUp?.();
      await running;
    },
  };
}
