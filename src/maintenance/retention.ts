/**
 * Retention: the event log, deliveries (with their attempts) and the reminders of finished tasks
 * would otherwise grow forever. Every API server and worker runs this job on a timer; a PostgreSQL
 * advisory lock lets one run at a time across all of them, and the others skip that round.
 *
 * Each batch is one short statement of at most `batchSize` rows that skips rows other transactions
 * hold (FOR UPDATE SKIP LOCKED), so it never waits on, or long blocks, the dispatcher or the API.
 *
 * The replay window: a subscription can resume with `after` only from an event still in the log,
 * that is one younger than `eventsDays`. Resuming from before the cut answers the typed error
 * `REPLAY_WINDOW_EXCEEDED` (src/graphql/types/reminder-fired.ts): the client reloads instead of
 * silently missing events.
 */
import pg from 'pg';
import { log } from '../logger.js';
import { metrics } from '../metrics/registry.js';
import { deleteFinishedTaskReminders } from './sql/delete-finished-task-reminders.js';
import { deleteOldDeliveries } from './sql/delete-old-deliveries.js';
import { deleteOldEvents } from './sql/delete-old-events.js';

export interface RetentionWindows {
  /** Events older than this many days are deleted (the replay window). */
  eventsDays: number;
  /** Finished deliveries (SENT or FAILED) last changed longer ago than this are deleted. */
  deliveriesDays: number;
  /** Reminders of tasks completed or cancelled longer ago than this are deleted. */
  finishedTasksDays: number;
}

export interface RetentionOptions extends RetentionWindows {
  /** Rows per statement. */
  batchSize?: number;
}

export type RetentionResult = { skipped: true } | { skipped: false; events: number; deliveries: number; reminders: number };

/** The advisory lock key (any bigint; this one spells "tickler retention"). */
export const RETENTION_LOCK_KEY = 7_464_110_001n;
const DAY_MS = 86_400_000;

async function drain(step: (limit: number) => Promise<number>, batchSize: number): Promise<number> {
  let total = 0;
  while (true) {
    const deleted = await step(batchSize);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/** Runs one retention pass against `databaseUrl`, unless another instance holds the lock. */
export async function runRetention(databaseUrl: string, options: RetentionOptions, now = new Date()): Promise<RetentionResult> {
  const batchSize = options.batchSize ?? 500;
  const cutoff = (days: number) => new Date(now.getTime() - days * DAY_MS);
  // A session lock needs one connection for the whole pass; each batch still commits on its own.
  const client = new pg.Client({ connectionString: databaseUrl, statement_timeout: 30_000 });
  // A connection lost between statements is emitted as 'error', which unheard would end the process;
  // the statement in flight fails on its own and the pass is retried next interval.
  client.on('error', (error) => log.warn('retention connection lost', { error }));
  await client.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RETENTION_LOCK_KEY.toString()]);
    if (!rows[0]?.locked) return { skipped: true };
    try {
      const deliveries = await drain((limit) => deleteOldDeliveries(client, cutoff(options.deliveriesDays), limit), batchSize);
      const events = await drain((limit) => deleteOldEvents(client, cutoff(options.eventsDays), limit), batchSize);
      const reminders = await drain((limit) => deleteFinishedTaskReminders(client, cutoff(options.finishedTasksDays), limit), batchSize);
      metrics.retentionDeleted.inc({ table: 'deliveries' }, deliveries);
      metrics.retentionDeleted.inc({ table: 'events' }, events);
      metrics.retentionDeleted.inc({ table: 'reminders' }, reminders);
      return { skipped: false, events, deliveries, reminders };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK_KEY.toString()]);
    }
  } finally {
    await client.end();
  }
}

/** Runs {@link runRetention} every `intervalMs` (first run one interval after start) until stopped. */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly options: RetentionOptions & { intervalMs: number },
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    // Jitter, so instances started together do not all try the lock at the same instant.
    const delay = this.options.intervalMs * (0.9 + Math.random() * 0.2);
    this.timer = setTimeout(() => {
      this.running = runRetention(this.databaseUrl, this.options)
        .then((result) => {
          if (!result.skipped) log.info('retention pass', result);
        })
        .catch((error: unknown) => log.warn('retention pass failed', { error }))
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
