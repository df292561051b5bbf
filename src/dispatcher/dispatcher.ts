/**
 * The dispatcher: fires every due reminder exactly once, on time, surviving crashes, pauses and
 * lost connections of any number of dispatchers; and runs the delivery worker (src/delivery) that
 * takes fired events to webhooks and email.
 *
 * - **Fire**: one autocommit statement claims due reminders (`FOR UPDATE SKIP LOCKED`) and fires
 *   them: SENT, an event in the log, delivery rows, NOTIFY (sql/fire-reminders.ts). Nothing is held
 *   between statements, so a dispatcher that dies, pauses or loses its connection strands nothing:
 *   an aborted statement leaves its rows as they were, for anyone. A failed statement is retried
 *   by this dispatcher at once, then with backoff up to a few seconds.
 * - **Recurring tasks**: after firing, the newest occurrence of each series whose deadline passed
 *   gets its successor (advance-series.ts); a series' deadline counts as a due time when sleeping.
 * - **Heartbeat**: each dispatcher records that it is alive; the heartbeat also hands back delivery
 *   claims older than the lease or held by a dispatcher silent for longer than its dead-after.
 * - **Schedule**: a recursive setTimeout, never setInterval: one pass finishes before the next is
 *   planned. It sleeps until the earliest due time the database knows, and LISTEN/NOTIFY wakes it
 *   early when something becomes due sooner; a slow fallback poll covers lost notifications (one
 *   statement when it finds nothing due: it looks before it fires). Rows
 *   it could not take because someone else holds them locked are retried on a backoff, not in a loop.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../db/client.js';
import type { PgListener } from '../db/listener.js';
import { DeliveryWorker, type DeliveryOptions } from '../delivery/worker.js';
import { log } from '../logger.js';
import { metrics } from '../metrics/registry.js';
import type { Notifier } from '../notifiers/notifier.js';
import { advanceDueSeries } from './advance-series.js';
import { fireDueReminders, type FiredEvent } from './sql/fire-reminders.js';
import { heartbeatAndRecover } from './sql/heartbeat-and-recover.js';
import { nextDue, type NextDue } from './sql/next-due.js';
import { registerDispatcher } from './sql/register-dispatcher.js';
import { unregisterDispatcher } from './sql/unregister-dispatcher.js';

export interface DispatcherOptions {
  /** Unique per process; defaults to host-pid-random. */
  id?: string;
  /** Reminders claimed and fired per statement (default 500). */
  batchSize?: number;
  /** A delivery claim older than this is presumed abandoned (default 5 minutes). */
  leaseMs?: number;
  /** How often this dispatcher proves it is alive and checks on the others (default 3 s). */
  heartbeatMs?: number;
  /** A dispatcher silent for this long is dead; its delivery claims go back (default 10 s). */
  deadAfterMs?: number;
  /** Longest sleep when nothing is known to be due, in case a notification was lost (default 10 s). */
  idlePollMs?: number;
  /** Longest wait before retrying after a failed pass (database unreachable); the first retry is at once (default 5 s). */
  retryMaxMs?: number;
  delivery?: DeliveryOptions;
  notifiers?: readonly Notifier[];
  /**
   * Called in-process right after reminders fired (committed), with every event: tests' and
   * benchmarks' sinks. Setting it makes each fire statement return its events (a larger result).
   */
  onFired?: (events: readonly FiredEvent[]) => void;
  /** Called after each batch that fired something, with counts only: costs nothing extra. */
  onBatch?: (batch: { fired: number; canceled: number; maxLatenessMs: number }) => void;
}

const DEFAULTS = {
  batchSize: 500,
  leaseMs: 5 * 60_000,
  heartbeatMs: 3000,
  deadAfterMs: 10_000,
  idlePollMs: 10_000,
  retryMaxMs: 5000,
};
/** Legacy PROCESSING reminders (claimed by a dispatcher before v2) recovered this often are FAILED. */
const MAX_REMINDER_CLAIMS = 5;
/** Retrying rows someone else holds locked: first delay, doubling up to the maximum. */
const SKIPPED_RETRY_FIRST_MS = 50;
const SKIPPED_RETRY_MAX_MS = 1000;
/** The first retry after a failed pass: "at once", but not a hot loop against a dead server. */
const ERROR_RETRY_FIRST_MS = 50;
/** `since` for a fallback pass's look: it fired and claimed nothing, so nothing due counts as skipped. */
const NOTHING_TAKEN = { reminders: new Date(0), deliveries: new Date(0) };

export class Dispatcher {
  readonly id: string;
  private readonly options: Required<Omit<DispatcherOptions, 'id' | 'delivery' | 'notifiers' | 'onFired' | 'onBatch'>>;
  private readonly deliveries: DeliveryWorker;
  private readonly onFired: DispatcherOptions['onFired'];
  private readonly onBatch: DispatcherOptions['onBatch'];
  private timer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Local time (Date.now()) the next pass is planned for. */
  private plannedAt = Infinity;
  private pass: Promise<void> | undefined;
  /** The heartbeat under way, if one is: stop() waits for it as for a pass. */
  private beating: Promise<void> | undefined;
  /** The latest start(), which stop() waits for. */
  private starting: Promise<void> | undefined;
  private wakeDuringPass = false;
  /**
   * The planned pass is the fallback poll (nothing was known to be due before it): it looks first,
   * with the one next-due statement, and fires and claims only if that finds something due. An idle
   * dispatcher then sends one statement per poll instead of three.
   */
  private fallbackPlanned = false;
  private stopping = false;
  /** Database clock minus local clock, learned from each nextDue(). */
  private clockOffsetMs = 0;
  /**
   * Local time from which a pass looks for series whose newest occurrence passed its deadline: the
   * earliest such deadline next-due or a notification reported. Idle passes then cost no extra
   * statement. 0: look at the next pass.
   */
  private seriesCheckAt = 0;
  private skippedRetryMs = SKIPPED_RETRY_FIRST_MS;
  private errorRetryMs = ERROR_RETRY_FIRST_MS;
  private unlisten: Array<() => void> = [];

  /**
   * @param db the dispatcher's own pool (src/db/client.ts createDispatchClient), not the API's.
   */
  constructor(
    private readonly db: Database,
    private readonly listener: PgListener,
    options: DispatcherOptions = {},
  ) {
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.options = {
      batchSize: options.batchSize ?? DEFAULTS.batchSize,
      leaseMs: options.leaseMs ?? DEFAULTS.leaseMs,
      heartbeatMs: options.heartbeatMs ?? DEFAULTS.heartbeatMs,
      deadAfterMs: options.deadAfterMs ?? DEFAULTS.deadAfterMs,
      idlePollMs: options.idlePollMs ?? DEFAULTS.idlePollMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
    };
    if (this.options.deadAfterMs < 2 * this.options.heartbeatMs) {
      throw new Error(`deadAfterMs (${this.options.deadAfterMs}) must be at least twice heartbeatMs (${this.options.heartbeatMs})`);
    }
    this.deliveries = new DeliveryWorker(db, this.id, options.notifiers ?? [], options.delivery ?? {}, () => this.wake(Date.now()));
    this.onFired = options.onFired;
    this.onBatch = options.onBatch;
  }

  /** Whether start() got as far as registering: only then can this dispatcher hold claims. */
  private registered = false;

  /**
   * Registers, listens, and schedules the first pass and heartbeat. A stop() that arrives while this
   * runs waits for it, and this schedules nothing once stopping: no pass may start after stop()
   * returned (the pool, and an embedded PostgreSQL, are closed right after it).
   */
  start(): Promise<void> {
    const starting = this.startOnce();
    this.starting = starting;
    return starting;
  }

  private async startOnce(): Promise<void> {
    // start() may be retried after a partial failure (database unreachable): begin from scratch.
    for (const unlisten of this.unlisten.splice(0)) unlisten();
    if (this.stopping) return;
    await registerDispatcher(this.db, this.id, hostname(), process.pid, this.options.deadAfterMs);
    this.registered = true;
    const catchUp = {
      reconnected: () => {
        this.seriesCheckAt = 0;
        this.wake(Date.now());
      },
    };
    this.unlisten.push(
      await this.listener.listen('tickler_reminders', (payload) => this.onReminderDue(payload), catchUp),
      await this.listener.listen('tickler_deliveries', () => this.wake(Date.now()), catchUp),
    );
    if (this.stopping) return;
    log.info('dispatcher started', { dispatcher: this.id, ...this.options });
    this.scheduleHeartbeat(0);
    this.schedule(0);
  }

  /** Stops firing, lets in-flight deliveries finish (up to `graceMs`), hands back what is left. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // A start under way finishes first (it schedules nothing now), so what it registered is undone below.
    await this.starting?.catch(() => undefined);
    clearTimeout(this.timer);
    clearTimeout(this.heartbeatTimer);
    for (const unlisten of this.unlisten) unlisten();
    await Promise.all([this.pass, this.beating]);
    // Never registered (stopped during start-up, perhaps before migrations): it holds no claims.
    if (!this.registered) return;
    try {
      const released = await this.deliveries.stop(graceMs);
      await unregisterDispatcher(this.db, this.id);
      log.info('dispatcher stopped', { dispatcher: this.id, releasedDeliveries: released });
    } catch (error) {
      // The database is gone: our delivery claims stay PROCESSING and are recovered once our heartbeat is missed.
      log.error('dispatcher stopped without releasing its delivery claims', { dispatcher: this.id, error });
    }
  }

  /** A reminder became due at `payload` (epoch ms, database clock): wake earlier if we sleep past it. */
  private onReminderDue(payload: string): void {
    const dueAtDatabase = Number(payload);
    if (!Number.isFinite(dueAtDatabase)) return;
    // The time may be a recurring task's deadline (src/domain/series.ts) rather than a reminder's.
    this.seriesCheckAt = Math.min(this.seriesCheckAt, dueAtDatabase - this.clockOffsetMs);
    this.wake(dueAtDatabase - this.clockOffsetMs);
  }

  private wake(atLocalMs: number): void {
    if (this.stopping) return;
    if (this.pass) {
      // A pass is running; it may already have read the due times. Run another right after it.
      this.wakeDuringPass = true;
      return;
    }
    if (atLocalMs < this.plannedAt) this.schedule(Math.max(0, atLocalMs - Date.now()));
  }

  private schedule(delayMs: number, fallback = false): void {
    clearTimeout(this.timer);
    this.plannedAt = Date.now() + delayMs;
    this.fallbackPlanned = fallback;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.plannedAt = Infinity;
      this.pass = this.runPass(this.fallbackPlanned).finally(() => {
        this.pass = undefined;
      });
    }, delayMs);
  }

  /**
   * One pass: fire everything due, start due deliveries, then plan the next pass. A `fallback` pass
   * (the idle poll) first asks the database whether anything is due at all, and stops there if not.
   */
  private async runPass(fallback: boolean): Promise<void> {
    let next = { delayMs: this.options.idlePollMs, fallback: false };
    try {
      this.wakeDuringPass = false;
      const look = fallback ? await nextDue(this.db, NOTHING_TAKEN) : undefined;
      if (look && !this.dueNow(look)) {
        next = this.planFrom(look);
      } else {
        if (look) this.learnFrom(look);
        const firedUpTo = await this.fireDue();
        await this.advanceSeries();
        const claimedUpTo = await this.deliveries.startDue();
        next = this.planFrom(await nextDue(this.db, { reminders: firedUpTo, deliveries: claimedUpTo ?? firedUpTo }));
      }
      if (this.errorRetryMs !== ERROR_RETRY_FIRST_MS) log.info('dispatcher recovered', { dispatcher: this.id });
      this.errorRetryMs = ERROR_RETRY_FIRST_MS;
    } catch (error) {
      // Whatever failed left nothing claimed (firing is one statement): retry at once, then back off.
      log.error('dispatcher pass failed; retrying', { dispatcher: this.id, error, inMs: this.errorRetryMs });
      next = { delayMs: this.errorRetryMs, fallback: false };
      this.errorRetryMs = Math.min(this.errorRetryMs * 4, this.options.retryMaxMs);
    }
    if (!this.stopping) this.schedule(next.delayMs, next.fallback);
  }

  /** The database clock's offset, and when the next series may need advancing. */
  private learnFrom(due: NextDue): void {
    this.clockOffsetMs = due.databaseNow.getTime() - Date.now();
    if (due.seriesInMs !== null) this.seriesCheckAt = Math.min(this.seriesCheckAt, Date.now() + due.seriesInMs);
  }

  /** Milliseconds until each kind of work this dispatcher would do is due (deliveries only with a free slot). */
  private dueTimes(due: NextDue): Array<number | null> {
    return [due.reminderInMs, due.seriesInMs, this.deliveries.capacity() > 0 ? due.deliveryInMs : null];
  }

  /** Whether a fallback pass's look found work: a due reminder, series deadline, or delivery with a free slot. */
  private dueNow(due: NextDue): boolean {
    return this.dueTimes(due).some((inMs) => inMs !== null && inMs <= 0);
  }

  /**
   * When to run the next pass, from what the database says is due (and learns its clock from it).
   * With nothing known due before the idle poll, that pass is a fallback pass.
   */
  private planFrom(due: NextDue): { delayMs: number; fallback: boolean } {
    this.learnFrom(due);
    let delayMs = this.options.idlePollMs;
    let fallback = true;
    for (const inMs of this.dueTimes(due)) {
      if (inMs !== null && inMs < delayMs) {
        delayMs = Math.max(0, inMs);
        fallback = false;
      }
    }
    if (due.remindersSkipped || (this.deliveries.capacity() > 0 && due.deliveriesSkipped)) {
      // Someone else holds due rows: usually another dispatcher's statement, done in
      // milliseconds; sometimes an outside lock held for long. Look again, less and less often.
      delayMs = Math.min(delayMs, this.skippedRetryMs);
      fallback = false;
      this.skippedRetryMs = Math.min(this.skippedRetryMs * 2, SKIPPED_RETRY_MAX_MS);
    } else {
      this.skippedRetryMs = SKIPPED_RETRY_FIRST_MS;
    }
    if (this.wakeDuringPass) return { delayMs: 0, fallback: false };
    return { delayMs, fallback };
  }

  /** Advances series past their deadlines when one may be due (see `seriesCheckAt`). */
  private async advanceSeries(): Promise<void> {
    if (Date.now() < this.seriesCheckAt) return;
    this.seriesCheckAt = Infinity;
    try {
      const { failed } = await advanceDueSeries(this.db);
      // A series that failed to advance is looked at again after the idle poll, not in a loop.
      if (failed > 0) this.seriesCheckAt = Date.now() + this.options.idlePollMs;
    } catch (error) {
      this.seriesCheckAt = 0;
      throw error;
    }
  }

  /** Fires batches until a short one; returns the last statement's time (database clock). */
  private async fireDue(): Promise<Date> {
    for (;;) {
      const batch = await fireDueReminders(this.db, {
        limit: this.options.batchSize,
        emailEnabled: this.deliveries.hasChannel('EMAIL'),
        details: this.onFired !== undefined,
      });
      if (batch.fired > 0) {
        metrics.recordFired(batch.fired, batch.maxLatenessMs);
        log.info('reminders fired', { dispatcher: this.id, count: batch.fired, maxLatenessMs: Math.round(batch.maxLatenessMs) });
        this.onFired?.(batch.events);
        this.onBatch?.({ fired: batch.fired, canceled: batch.canceled, maxLatenessMs: batch.maxLatenessMs });
      }
      if (batch.canceled > 0) log.info('due reminders of inactive tasks canceled', { dispatcher: this.id, count: batch.canceled });
      if (this.stopping || batch.fired + batch.canceled < this.options.batchSize) return batch.at;
    }
  }

  private scheduleHeartbeat(delayMs: number): void {
    this.heartbeatTimer = setTimeout(() => {
      this.beating = this.heartbeat().finally(() => {
        this.beating = undefined;
        if (!this.stopping) this.scheduleHeartbeat(this.options.heartbeatMs);
      });
    }, delayMs);
  }

  private async heartbeat(): Promise<void> {
    try {
      const recovered = await heartbeatAndRecover(this.db, this.id, {
        leaseMs: this.options.leaseMs,
        maxAttempts: MAX_REMINDER_CLAIMS,
      });
      if (!recovered.alive && !this.stopping) {
        // We were declared dead (paused too long) and our delivery claims were handed on; fencing
        // keeps our late outcomes out. Come back as alive.
        log.warn('dispatcher was declared dead; registering again', { dispatcher: this.id });
        await registerDispatcher(this.db, this.id, hostname(), process.pid, this.options.deadAfterMs);
      }
      if (recovered.reminders + recovered.remindersFailed + recovered.deliveries > 0 || recovered.deadDispatchers.length > 0) {
        metrics.claimsRecovered.inc(recovered.reminders + recovered.remindersFailed + recovered.deliveries);
        log.warn('recovered abandoned claims', { dispatcher: this.id, ...recovered });
        this.wake(Date.now());
      }
    } catch (error) {
      log.error('heartbeat failed', { dispatcher: this.id, error });
    }
  }
}
