/**
 * The API server's dispatcher, run on a worker thread (thread.ts) and driven from the main thread
 * with the same verbs as a Dispatcher: `start()`, `stop(graceMs)`, `id`. The server starts and
 * stops it in the same order as before (src/server/assemble.ts: drain HTTP, then this, then the
 * event hub, then the runtime).
 *
 * - **Why a thread**: on the main thread the dispatcher's timers and its statements' answers wait
 *   behind request processing; under load that made reminders fire hundreds of ms late. The thread
 *   has its own event loop, pool and LISTEN connection.
 * - **A thread that dies** (an uncaught error, out of memory) is logged and replaced, with backoff
 *   from 1 s doubling to 30 s (back to 1 s once a thread has run for a minute), while the API keeps
 *   serving: the API does not need the dispatcher, and other dispatchers (`npm run worker`, other
 *   servers) may be firing meanwhile. The new thread is a new dispatcher (a new id), exactly as a
 *   restarted process would be: firing holds nothing between statements, and the old id's delivery
 *   claims go back once its heartbeat is missed for DISPATCHER_DEAD_AFTER_MS.
 * - **Metrics**: each scrape asks the thread for its registry (src/metrics/registry.ts
 *   addThreadMetrics); a thread that does not answer within a second is shown at its last answer.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { log } from '../logger.js';
import { addThreadMetrics, type MetricsSnapshot } from '../metrics/registry.js';

/** What the thread is started with (structured-cloned). */
export interface DispatcherThreadData {
  config: Config;
  /** The database the server resolved (an embedded PostgreSQL's URL is only known at run time). */
  databaseUrl: string;
}

export type ToDispatcherThread = { type: 'start' } | { type: 'stop'; graceMs: number } | { type: 'metrics'; requestId: number };

export type FromDispatcherThread =
  | { type: 'started'; id: string }
  | { type: 'start-failed'; id: string; error: { name: string; message: string } }
  | { type: 'stopped' }
  | { type: 'metrics'; requestId: number; metrics: MetricsSnapshot };

const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A thread that ran this long before dying starts the backoff over. */
const RESTART_RESET_AFTER_MS = 60_000;
const METRICS_TIMEOUT_MS = 1000;
/** Beyond the dispatcher's own grace: closing its pool and listener. */
const STOP_MARGIN_MS = 5000;

/**
 * How to start the thread: thread.js beside this module in the build (dist/). From the sources (under
 * tsx: `npm run dev`, the tests, the benchmarks), thread.ts through tsx's loader, registered inside
 * the new thread: Node 20 does not run the parent's `--import` hooks in a worker.
 */
function threadEntry(): { entry: URL | string; eval: boolean } {
  const compiled = new URL('./thread.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { entry: compiled, eval: false };
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const source = new URL('./thread.ts', import.meta.url).href;
  return {
    entry: `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`,
    eval: true,
  };
}

class ThreadError extends Error {
  constructor(message: string, error: { name: string; message: string }) {
    super(`${message}: ${error.message}`);
    this.name = error.name;
  }
}

export class DispatcherThread {
  private worker: Worker | undefined;
  private currentId = '';
  private stopping = false;
  /** Whether start() has succeeded: only then is a thread that dies replaced. */
  private running = false;
  private restartMs = RESTART_FIRST_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private nextRequestId = 0;
  private lastMetrics: MetricsSnapshot = [];
  private readonly pendingMetrics = new Map<number, (metrics: MetricsSnapshot) => void>();
  private pendingStart: { resolve: (id: string) => void; reject: (error: Error) => void } | undefined;
  private pendingStop: (() => void) | undefined;
  private readonly removeMetrics: () => void;

  constructor(private readonly data: DispatcherThreadData) {
    this.removeMetrics = addThreadMetrics(() => this.metrics());
  }

  /** The id of the dispatcher on the current thread ('' before the first start). */
  get id(): string {
    return this.currentId;
  }

  /**
   * Starts the thread (if none runs) and its dispatcher. Rejects when the dispatcher could not start
   * (database unreachable or not migrated): call again to retry, on the same thread.
   */
  async start(): Promise<void> {
    if (this.stopping) return;
    const worker = this.worker ?? this.spawn();
    this.currentId = await new Promise<string>((resolve, reject) => {
      this.pendingStart = { resolve, reject };
      this.post(worker, { type: 'start' });
    });
    this.running = true;
    this.startedAt = Date.now();
  }

  /** Stops the dispatcher (in-flight deliveries get `graceMs`), closes its pool, ends the thread. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.removeMetrics();
    const worker = this.worker;
    if (!worker) return;
    const stopped = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs + STOP_MARGIN_MS);
      this.pendingStop = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.post(worker, { type: 'stop', graceMs });
    if (!(await stopped)) log.error('dispatcher thread did not stop in time; ending it', { dispatcher: this.currentId, graceMs });
    await worker.terminate();
  }

  /**
   * Ends the current thread at once, as a crash would (exit code 1, nothing released): the restart
   * path, for tests. Resolves once the thread is gone.
   */
  async terminateThread(): Promise<void> {
    await this.worker?.terminate();
  }

  private spawn(): Worker {
    const { entry, eval: isSource } = threadEntry();
    const worker = new Worker(entry, { eval: isSource, workerData: this.data });
    this.worker = worker;
    worker.on('message', (message: FromDispatcherThread) => this.onMessage(message));
    worker.on('error', (error) => log.error('dispatcher thread failed', { dispatcher: this.currentId, error }));
    worker.on('exit', (code) => this.onExit(worker, code));
    return worker;
  }

  private post(worker: Worker, message: ToDispatcherThread): void {
    worker.postMessage(message);
  }

  private onMessage(message: FromDispatcherThread): void {
    switch (message.type) {
      case 'started':
        this.pendingStart?.resolve(message.id);
        this.pendingStart = undefined;
        break;
      case 'start-failed':
        this.currentId = message.id;
        this.pendingStart?.reject(new ThreadError('the dispatcher could not start', message.error));
        this.pendingStart = undefined;
        break;
      case 'stopped':
        this.pendingStop?.();
        break;
      case 'metrics':
        this.lastMetrics = message.metrics;
        this.pendingMetrics.get(message.requestId)?.(message.metrics);
        this.pendingMetrics.delete(message.requestId);
        break;
    }
  }

  private onExit(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.pendingStart?.reject(new Error(`the dispatcher thread exited (code ${code}) while starting`));
    this.pendingStart = undefined;
    for (const resolve of this.pendingMetrics.values()) resolve(this.lastMetrics);
    this.pendingMetrics.clear();
    // A stopped thread was asked to end; one that never started is retried by its caller.
    if (this.stopping || !this.running) return;
    this.running = false;
    if (Date.now() - this.startedAt >= RESTART_RESET_AFTER_MS) this.restartMs = RESTART_FIRST_MS;
    const inMs = this.restartMs;
    this.restartMs = Math.min(this.restartMs * 2, RESTART_MAX_MS);
    log.error('dispatcher thread exited; starting a new one', { dispatcher: this.currentId, code, inMs });
    this.restartTimer = setTimeout(() => void this.restart(), inMs);
  }

  /** A new thread after one died: retried, with the same backoff, until it starts or we stop. */
  private async restart(): Promise<void> {
    try {
      await this.start();
      log.info('dispatcher thread restarted', { dispatcher: this.currentId });
    } catch (error) {
      if (this.stopping) return;
      const inMs = this.restartMs;
      this.restartMs = Math.min(this.restartMs * 2, RESTART_MAX_MS);
      log.warn('dispatcher thread could not start yet; retrying', { dispatcher: this.currentId, error, inMs });
      this.restartTimer = setTimeout(() => void this.restart(), inMs);
    }
  }

  /** The thread's registry, or its last answer when it does not answer within a second. */
  private metrics(): Promise<MetricsSnapshot> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(this.lastMetrics);
    const requestId = this.nextRequestId++;
    return new Promise<MetricsSnapshot>((resolve) => {
      const timer = setTimeout(() => {
        this.pendingMetrics.delete(requestId);
        resolve(this.lastMetrics);
      }, METRICS_TIMEOUT_MS);
      this.pendingMetrics.set(requestId, (metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      this.post(worker, { type: 'metrics', requestId });
    });
  }
}
