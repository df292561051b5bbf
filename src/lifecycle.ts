/**
 * A process's start and stop, kept light (the logger and config only) so an entry point can handle
 * SIGTERM/SIGINT before it loads the rest of Tickler.
 */
import { ConfigError } from './config.js';
import { log } from './logger.js';

/** Logs a start-up failure the way an operator needs it: one line, the message, no stack. */
export function logStartupError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConfigError) log.error(`configuration error: ${message}`);
  else log.error('Tickler failed to start', { error, cause: error instanceof Error ? error.cause : undefined });
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
