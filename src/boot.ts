/**
 * What the API server (`npm start`) and a standalone dispatcher (`npm run worker`) share at start:
 * configuration, the database (migrated), the notification listener, the notifiers and a dispatcher;
 * and the order in which they stop.
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { createPrismaClient, type Database } from './db/client.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { PgListener } from './db/listener.js';
import { migrate } from './db/migrate.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
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

/** Thrown by {@link Lifecycle.throwIfStopping} when a signal arrived during start-up. */
export class StartupInterrupted extends Error {
  constructor(signal: string) {
    super(`start-up interrupted by ${signal}`);
  }
}

/**
 * A process's start and stop, from its first line: what each start-up step opened is registered with
 * `onStop`, and is undone, last registered first, on SIGTERM or SIGINT and after a failed start-up.
 * - A signal during start-up lets the step under way finish (so what it opens is registered), skips
 *   the rest (`throwIfStopping` between steps), stops everything and exits 0.
 * - A failed start-up stops what was already started (never an orphaned embedded PostgreSQL), logs
 *   one line and exits 1.
 * - Further signals while stopping are ignored: the drain is bounded by SHUTDOWN_GRACE_SECONDS.
 */
export class Lifecycle {
  private readonly stops: Array<() => Promise<unknown>> = [];
  private signal: string | undefined;

  onStop(stop: () => Promise<unknown>): void {
    this.stops.push(stop);
  }

  get stopping(): boolean {
    return this.signal !== undefined;
  }

  throwIfStopping(): void {
    if (this.signal !== undefined) throw new StartupInterrupted(this.signal);
  }

  /** Runs every registered stop, last registered first; the first failure is rethrown after all ran. */
  async stopAll(): Promise<void> {
    let failure: unknown;
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Runs `start` with SIGTERM/SIGINT handled from the first moment, and exits as described above. */
  static run(start: (lifecycle: Lifecycle) => Promise<void>): void {
    const lifecycle = new Lifecycle();
    let exiting = false;
    const finish = async (startupError?: unknown) => {
      if (startupError !== undefined) logStartupError(startupError);
      try {
        await lifecycle.stopAll();
      } catch (error) {
        log.error('shutdown failed', { error });
        process.exit(1);
      }
      if (startupError !== undefined) process.exit(1);
      log.info('stopped');
      process.exit(0);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (exiting) return;
      exiting = true;
      lifecycle.signal = signal;
      log.info('shutting down', { signal });
      // However an interrupted start-up ended, a stop asked for by a signal is a clean exit.
      void started.then(() => finish());
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    const started = start(lifecycle).then(
      () => undefined,
      (error: unknown) => error,
    );
    void started.then((error) => {
      if (error === undefined || exiting) return;
      exiting = true;
      void finish(error);
    });
  }
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

function logStartupError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConfigError) log.error(`configuration error: ${message}`);
  else log.error('Tickler failed to start', { error, cause: error instanceof Error ? error.cause : undefined });
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
