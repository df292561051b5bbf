/**
 * What the API server (`npm start`) and a standalone dispatcher (`npm run worker`) share at start:
 * configuration, the database (migrated), the notification listener, the notifiers and a dispatcher;
 * and the order in which they stop.
 */
import { loadConfig, type Config } from './config.js';
import { createPrismaClient, type Database } from './db/client.js';
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
  db: Database;
  listener: PgListener;
  notifiers: Notifier[];
}

export async function boot(lifecycle?: Lifecycle): Promise<Runtime> {
  const config = loadConfig();
  const database = await openDatabase(config);
  // From here on, a failed or interrupted start-up stops the database it started (an embedded one).
  lifecycle?.onStop(() => database.stop());
  lifecycle?.throwIfStopping();
  if (config.migrateOnStart) {
    const result = await migrate(database.url);
    log.info('migrations', { applied: result.applied, alreadyApplied: result.alreadyApplied.length });
  }
  lifecycle?.throwIfStopping();
  const db = createPrismaClient(database.url);
  const listener = new PgListener(database.url);
  const notifiers: Notifier[] = [new WebhookNotifier({ policy: config.webhooks })];
  if (config.email.smtpUrl) notifiers.push(new EmailNotifier({ smtpUrl: config.email.smtpUrl, from: config.email.from }));
  lifecycle?.onStop(() => closeClients({ db, listener, notifiers }));
  return { config, database, db, listener, notifiers };
}

export function createDispatcher(runtime: Runtime): Dispatcher {
  const { config } = runtime;
  return new Dispatcher(runtime.db, runtime.listener, {
    batchSize: config.dispatcher.batchSize,
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

async function closeClients(runtime: Pick<Runtime, 'db' | 'listener' | 'notifiers'>): Promise<void> {
  await runtime.listener.close();
  await Promise.allSettled(runtime.notifiers.map((notifier) => notifier.close?.()));
  await runtime.db.$disconnect();
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
 * without holding up the caller. `cancel` stops the retrying (at shutdown).
 */
export function startWhenPossible(components: readonly Startable[]): { cancel: () => void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const startOne = async (component: Startable, delayMs: number): Promise<void> => {
    try {
      await component.start();
    } catch (error) {
      if (cancelled) return;
      log.warn('could not start yet; retrying', { component: component.constructor.name, error, inMs: delayMs });
      await new Promise<void>((resolve) => (timer = setTimeout(resolve, delayMs)));
      if (!cancelled) await startOne(component, Math.min(delayMs * 2, 30_000));
    }
  };
  void (async () => {
    for (const component of components) {
      if (cancelled) return;
      await startOne(component, 500);
    }
  })();
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
