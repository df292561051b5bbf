/**
 * The dispatcher: fires every due reminder exactly once, on time, and delivers the resulting
 * events to external channels, surviving crashes of any number of dispatchers.
 *
 * - **Claim**: mark due rows PROCESSING with this dispatcher's id, the time and an attempt number
 *   (`UPDATE ... FOR UPDATE SKIP LOCKED`), so many dispatchers share the work without overlap.
 * - **Fire**: one transaction turns a claim into SENT + an event in the log + delivery rows, and
 *   only if the claim is still ours for the same attempt (fencing).
 * - **Lease / heartbeat**: a claim older than the lease, or held by a dispatcher whose heartbeat
 *   stopped, is handed back and fired by someone else.
 * - **Schedule**: a recursive setTimeout, never setInterval: one pass finishes before the next is
 *   planned. It sleeps until the earliest due time the database knows, and LISTEN/NOTIFY wakes it
 *   early when something becomes due sooner; a slow fallback poll covers lost notifications.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../db/client.js';
import type { PgListener } from '../db/listener.js';
import { globalIdOf } from '../graphql/global-ids.js';
import { log } from '../logger.js';
import type { DeliveryChannel, DeliveryMessage, DeliveryResult, Notifier } from '../notifiers/notifier.js';
import { claimDueDeliveries, type ClaimedDelivery } from './sql/claim-due-deliveries.js';
import { claimDueReminders, type ClaimedReminder } from './sql/claim-due-reminders.js';
import { fireReminders, type FiredEvent } from './sql/fire-reminders.js';
import { heartbeatAndRecover } from './sql/heartbeat-and-recover.js';
import { nextDue } from './sql/next-due.js';
import { recordDeliveryOutcome, type DeliveryOutcome } from './sql/record-delivery-outcome.js';
import { registerDispatcher } from './sql/register-dispatcher.js';
import { releaseClaims } from './sql/release-claims.js';
import { unregisterDispatcher } from './sql/unregister-dispatcher.js';

export interface DispatcherOptions {
  /** Unique per process; defaults to host-pid-random. */
  id?: string;
  /** Reminders claimed per statement. */
  batchSize?: number;
  /** A claim older than this is presumed abandoned (default 5 minutes). */
  leaseMs?: number;
  /** How often this dispatcher proves it is alive and checks on the others (default 3 s). */
  heartbeatMs?: number;
  /** A dispatcher silent for this long is dead; its claims go back (default 10 s). */
  deadAfterMs?: number;
  /** Longest sleep when nothing is known to be due, in case a notification was lost (default 10 s). */
  idlePollMs?: number;
  /** Claims of one reminder that never complete before it is marked FAILED (default 5). */
  maxReminderAttempts?: number;
  delivery?: {
    /** Deliveries in flight at once in this dispatcher (default 32). */
    concurrency?: number;
    /** In flight at once to one webhook endpoint (default 4). */
    perEndpoint?: number;
    /** Per attempt (default 10 s). */
    timeoutMs?: number;
    /** Attempts before a delivery is FAILED (default 8). */
    maxAttempts?: number;
    /** First retry delay; doubles per attempt, with jitter (default 1 s). */
    backoffBaseMs?: number;
    /** Longest retry delay (default 1 hour). */
    backoffMaxMs?: number;
  };
  notifiers?: readonly Notifier[];
  /** Called in-process right after reminders fired (committed): logging, metrics, benchmarks' sinks. */
  onFired?: (events: readonly FiredEvent[]) => void;
  /**
   * Awaited between claiming a batch and firing it. For instrumentation and for tests that must
   * stop a dispatcher while it holds claims (crash and pause tests); production leaves it unset.
   */
  onClaimed?: (claims: readonly ClaimedReminder[]) => Promise<void> | void;
}

const DEFAULTS = {
  batchSize: 100,
  leaseMs: 5 * 60_000,
  heartbeatMs: 3000,
  deadAfterMs: 10_000,
  idlePollMs: 10_000,
  maxReminderAttempts: 5,
};
const DELIVERY_DEFAULTS = { concurrency: 32, perEndpoint: 4, timeoutMs: 10_000, maxAttempts: 8, backoffBaseMs: 1000, backoffMaxMs: 3_600_000 };
/** After an unexpected error in a pass (database down), wait this long before the next. */
const ERROR_BACKOFF_MS = 1000;

export class Dispatcher {
  readonly id: string;
  private readonly options: Required<Omit<DispatcherOptions, 'id' | 'delivery' | 'notifiers' | 'onFired' | 'onClaimed'>>;
  private readonly delivery: Required<NonNullable<DispatcherOptions['delivery']>>;
  private readonly notifiers = new Map<DeliveryChannel, Notifier>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Local time (Date.now()) the next pass is planned for. */
  private plannedAt = Infinity;
  private pass: Promise<void> | undefined;
  private wakeDuringPass = false;
  private stopping = false;
  /** Database clock minus local clock, learned from each nextDue(). */
  private clockOffsetMs = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly inFlightByEndpoint = new Map<string, number>();
  private unlisten: Array<() => void> = [];

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
      maxReminderAttempts: options.maxReminderAttempts ?? DEFAULTS.maxReminderAttempts,
    };
    if (this.options.deadAfterMs < 2 * this.options.heartbeatMs) {
      throw new Error(`deadAfterMs (${this.options.deadAfterMs}) must be at least twice heartbeatMs (${this.options.heartbeatMs})`);
    }
    this.delivery = { ...DELIVERY_DEFAULTS, ...options.delivery } as Required<NonNullable<DispatcherOptions['delivery']>>;
    for (const notifier of options.notifiers ?? []) this.notifiers.set(notifier.channel, notifier);
    this.onFired = options.onFired;
    this.onClaimed = options.onClaimed;
  }

  private readonly onFired: DispatcherOptions['onFired'];
  private readonly onClaimed: DispatcherOptions['onClaimed'];

  async start(): Promise<void> {
    // start() may be retried after a partial failure (database unreachable): begin from scratch.
    for (const unlisten of this.unlisten.splice(0)) unlisten();
    await registerDispatcher(this.db, this.id, hostname(), process.pid, this.options.deadAfterMs);
    const catchUp = { reconnected: () => this.wake(Date.now()) };
    this.unlisten.push(
      await this.listener.listen('tickler_reminders', (payload) => this.onReminderDue(payload), catchUp),
      await this.listener.listen('tickler_deliveries', () => this.wake(Date.now()), catchUp),
    );
    log.info('dispatcher started', { dispatcher: this.id, ...this.options });
    this.scheduleHeartbeat(0);
    this.schedule(0);
  }

  /** Stops claiming, lets in-flight deliveries finish (up to `graceMs`), hands back what is left. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.timer);
    clearTimeout(this.heartbeatTimer);
    for (const unlisten of this.unlisten) unlisten();
    await this.pass;
    const drained = Promise.allSettled([...this.inFlight.values()]);
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    try {
      const released = await releaseClaims(this.db, this.id);
      await unregisterDispatcher(this.db, this.id);
      log.info('dispatcher stopped', { dispatcher: this.id, released });
    } catch (error) {
      // The database is gone: our claims stay PROCESSING and are recovered once our heartbeat is missed.
      log.error('dispatcher stopped without releasing its claims', { dispatcher: this.id, error });
    }
  }

  /** A reminder became due at `payload` (epoch ms, database clock): wake earlier if we sleep past it. */
  private onReminderDue(payload: string): void {
    const dueAtDatabase = Number(payload);
    if (!Number.isFinite(dueAtDatabase)) return;
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

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.plannedAt = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.plannedAt = Infinity;
      this.pass = this.runPass().finally(() => {
        this.pass = undefined;
      });
    }, delayMs);
  }

  /** One pass: fire everything due, start due deliveries, then plan the next pass. */
  private async runPass(): Promise<void> {
    let delayMs = this.options.idlePollMs;
    try {
      this.wakeDuringPass = false;
      await this.fireDueReminders();
      await this.startDueDeliveries();
      const due = await nextDue(this.db, this.saturatedEndpoints());
      this.clockOffsetMs = due.databaseNow.getTime() - Date.now();
      for (const inMs of [due.reminderInMs, this.deliveryCapacity() > 0 ? due.deliveryInMs : null]) {
        if (inMs !== null) delayMs = Math.min(delayMs, Math.max(0, inMs));
      }
      if (this.wakeDuringPass) delayMs = 0;
    } catch (error) {
      log.error('dispatcher pass failed', { dispatcher: this.id, error });
      delayMs = ERROR_BACKOFF_MS;
    }
    if (!this.stopping) this.schedule(delayMs);
  }

  private async fireDueReminders(): Promise<void> {
    while (!this.stopping) {
      const claims = await claimDueReminders(this.db, this.id, this.options.batchSize);
      if (claims.length === 0) return;
      log.debug('claimed reminders', { dispatcher: this.id, count: claims.length });
      await this.onClaimed?.(claims);
      const fired = await fireReminders(this.db, this.id, claims, { emailEnabled: this.notifiers.has('EMAIL') });
      if (fired.length > 0) {
        log.info('reminders fired', {
          dispatcher: this.id,
          count: fired.length,
          maxLatenessMs: Math.max(...fired.map((event) => event.firedAt.getTime() - event.triggerAt.getTime())),
        });
        this.onFired?.(fired);
      }
      if (fired.length < claims.length) {
        log.info('claims not fired (task no longer active, or claim taken over)', {
          dispatcher: this.id,
          count: claims.length - fired.length,
        });
      }
      if (claims.length < this.options.batchSize) return;
    }
  }

  private saturatedEndpoints(): string[] {
    return [...this.inFlightByEndpoint].filter(([, count]) => count >= this.delivery.perEndpoint).map(([id]) => id);
  }

  private deliveryCapacity(): number {
    return this.notifiers.size === 0 ? 0 : this.delivery.concurrency - this.inFlight.size;
  }

  /** Claims as many due deliveries as there are free slots and starts them; does not wait for them. */
  private async startDueDeliveries(): Promise<void> {
    const capacity = this.deliveryCapacity();
    if (capacity <= 0 || this.stopping) return;
    const claimed = await claimDueDeliveries(this.db, this.id, capacity, this.delivery.perEndpoint, this.inFlightByEndpoint);
    for (const delivery of claimed) {
      const endpointKey = delivery.endpointId;
      if (endpointKey) this.inFlightByEndpoint.set(endpointKey, (this.inFlightByEndpoint.get(endpointKey) ?? 0) + 1);
      const work = this.deliver(delivery).finally(() => {
        this.inFlight.delete(delivery.id);
        if (endpointKey) {
          const left = (this.inFlightByEndpoint.get(endpointKey) ?? 1) - 1;
          if (left <= 0) this.inFlightByEndpoint.delete(endpointKey);
          else this.inFlightByEndpoint.set(endpointKey, left);
        }
        // A slot freed up: look for more work now rather than at the next planned pass.
        this.wake(Date.now());
      });
      this.inFlight.set(delivery.id, work);
    }
  }

  /** One attempt of one delivery; never throws. */
  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const notifier = this.notifiers.get(delivery.channel);
    const started = Date.now();
    let result: DeliveryResult;
    if (!notifier) {
      result = { ok: false, retryable: true, error: `no ${delivery.channel} notifier is configured on this dispatcher` };
    } else {
      const signal = AbortSignal.timeout(this.delivery.timeoutMs);
      result = await notifier.deliver(toMessage(delivery), signal).catch(
        (error: unknown): DeliveryResult => ({ ok: false, retryable: true, error: error instanceof Error ? error.message : String(error) }),
      );
      if (signal.aborted && !result.ok) result = { ...result, retryable: true, error: `timed out after ${this.delivery.timeoutMs} ms` };
    }
    const outcome = this.outcomeOf(delivery, result);
    const context = { dispatcher: this.id, delivery: delivery.id, channel: delivery.channel, attempt: delivery.attempt };
    if (!result.ok) log.warn('delivery attempt failed', { ...context, error: result.error, statusCode: result.statusCode, next: outcome });
    try {
      const recorded = await recordDeliveryOutcome(
        this.db,
        this.id,
        delivery,
        { durationMs: Date.now() - started, statusCode: result.statusCode ?? null, error: result.ok ? null : result.error.slice(0, 500) },
        outcome,
      );
      if (!recorded) log.warn('delivery claim was taken over; outcome not recorded', context);
    } catch (error) {
      // The claim stays PROCESSING and is recovered after the lease: delivered again, same webhook-id.
      log.error('could not record delivery outcome', { ...context, error });
    }
  }

  private outcomeOf(delivery: ClaimedDelivery, result: DeliveryResult): DeliveryOutcome {
    if (result.ok) return { kind: 'sent' };
    if (!result.retryable || delivery.attempt >= this.delivery.maxAttempts) return { kind: 'failed' };
    const exponential = Math.min(this.delivery.backoffMaxMs, this.delivery.backoffBaseMs * 2 ** (delivery.attempt - 1));
    // Jitter spreads the retries of many deliveries that failed together (an endpoint outage).
    return { kind: 'retry', inMs: Math.round(exponential * (0.5 + Math.random() * 0.5)) };
  }

  private scheduleHeartbeat(delayMs: number): void {
    this.heartbeatTimer = setTimeout(() => {
      void this.heartbeat().finally(() => {
        if (!this.stopping) this.scheduleHeartbeat(this.options.heartbeatMs);
      });
    }, delayMs);
  }

  private async heartbeat(): Promise<void> {
    try {
      const recovered = await heartbeatAndRecover(this.db, this.id, {
        leaseMs: this.options.leaseMs,
        maxAttempts: this.options.maxReminderAttempts,
      });
      if (!recovered.alive && !this.stopping) {
        // We were declared dead (paused too long) and our claims were handed on; fencing keeps
        // our late outcomes out. Come back as alive.
        log.warn('dispatcher was declared dead; registering again', { dispatcher: this.id });
        await registerDispatcher(this.db, this.id, hostname(), process.pid, this.options.deadAfterMs);
      }
      if (recovered.reminders + recovered.remindersFailed + recovered.deliveries > 0 || recovered.deadDispatchers.length > 0) {
        log.warn('recovered abandoned claims', { dispatcher: this.id, ...recovered });
        // Recovered reminders are due now; the trigger's notification wakes everyone, this is for us.
        this.wake(Date.now());
      }
    } catch (error) {
      log.error('heartbeat failed', { dispatcher: this.id, error });
    }
  }
}

/** What a notifier sees: the API's ids, and a message id that is the same on every retry. */
function toMessage(delivery: ClaimedDelivery): DeliveryMessage {
  return {
    deliveryId: delivery.id,
    messageId: `msg_${delivery.eventId}`,
    attempt: delivery.attempt,
    payload: {
      type: 'reminder.fired',
      eventId: delivery.eventId.toString(),
      taskId: globalIdOf('Task', delivery.taskId),
      reminderId: globalIdOf('Reminder', delivery.reminderId),
      taskTitle: delivery.payload.taskTitle,
      deadline: delivery.payload.deadline,
      triggerAt: delivery.payload.triggerAt,
      firedAt: delivery.payload.firedAt,
    },
    ...(delivery.endpointUrl && delivery.endpointSecret ? { endpoint: { url: delivery.endpointUrl, secret: delivery.endpointSecret } } : {}),
    ...(delivery.email ? { email: delivery.email } : {}),
  };
}
