/**
 * The delivery worker: the outbox side of the dispatcher. Firing a reminder writes one delivery row
 * per external channel (src/dispatcher/sql/fire-reminders.ts); this worker claims due rows, hands
 * each to its channel's notifier, and records the outcome.
 *
 * Deliveries do I/O that can take seconds, so unlike firing they keep a claim across awaits:
 * - **Claim**: PROCESSING, with this dispatcher's id, the time and an attempt number (`SKIP LOCKED`).
 * - **Fencing token**: (claimed_by, attempt). An outcome is recorded only while both still match,
 *   so a worker that was paused past its lease, or declared dead, changes nothing when it wakes.
 * - **Lease**: a claim older than the lease, or held by a dispatcher whose heartbeat stopped, is
 *   handed back by anyone's heartbeat (src/dispatcher/sql/heartbeat-and-recover.ts).
 * - **Outcome that cannot be recorded** (database restarting, connection cut): this worker keeps
 *   the outcome and retries recording it, with backoff, while its claim is still its own; the row is
 *   settled seconds after the database answers again rather than after the lease, and a failed
 *   attempt is retried under the same webhook-id.
 */
import { reminderFiredPayload } from '../events/payload.js';
import { log } from '../logger.js';
import { metrics } from '../metrics/registry.js';
import type { DeliveryChannel, DeliveryMessage, DeliveryResult, Notifier } from '../notifiers/notifier.js';
import type { Database } from '../db/client.js';
import { claimDueDeliveries, type ClaimedDelivery } from './sql/claim-due-deliveries.js';
import { recordDeliveryOutcome, type DeliveryOutcome } from './sql/record-delivery-outcome.js';
import { releaseDeliveryClaims } from './sql/release-delivery-claims.js';

export interface DeliveryOptions {
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
}

/** The longest wait between two attempts of one delivery (README: "at most 1 hour"). */
const BACKOFF_MAX_MS = 3_600_000;

const DEFAULTS: Required<DeliveryOptions> = { concurrency: 32, perEndpoint: 4, timeoutMs: 10_000, maxAttempts: 8, backoffBaseMs: 1000, backoffMaxMs: BACKOFF_MAX_MS };
/** Retrying to record an outcome: first delay, doubling up to the maximum. */
const RECORD_RETRY_FIRST_MS = 100;
const RECORD_RETRY_MAX_MS = 2000;

export class DeliveryWorker {
  private readonly options: Required<DeliveryOptions>;
  private readonly notifiers = new Map<DeliveryChannel, Notifier>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly inFlightByEndpoint = new Map<string, number>();
  private stopping = false;

  /**
   * @param slotFreed called when a delivery finished: there may be more to claim.
   */
  constructor(
    private readonly db: Database,
    private readonly dispatcherId: string,
    notifiers: readonly Notifier[],
    options: DeliveryOptions,
    private readonly slotFreed: () => void,
  ) {
    this.options = { ...DEFAULTS, ...stripUndefined(options) };
    for (const notifier of notifiers) this.notifiers.set(notifier.channel, notifier);
  }

  hasChannel(channel: DeliveryChannel): boolean {
    return this.notifiers.has(channel);
  }

  /** Free slots; 0 without notifiers (a dispatcher that only fires). */
  capacity(): number {
    return this.notifiers.size === 0 ? 0 : this.options.concurrency - this.inFlight.size;
  }

  /**
   * Claims as many due deliveries as there are free slots and starts them; does not wait for them.
   * Returns the claim statement's time (database clock), or null when no claim was made.
   */
  async startDue(): Promise<Date | null> {
    const capacity = this.capacity();
    if (capacity <= 0 || this.stopping) return null;
    const { claimed, at } = await claimDueDeliveries(this.db, this.dispatcherId, capacity, this.options.perEndpoint, this.inFlightByEndpoint);
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
        this.slotFreed();
      });
      this.inFlight.set(delivery.id, work);
    }
    return at;
  }

  /** Stops claiming; waits up to `graceMs` for deliveries in flight, then hands back what is left. */
  async stop(graceMs: number): Promise<number> {
    this.stopping = true;
    const drained = Promise.allSettled([...this.inFlight.values()]);
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    return releaseDeliveryClaims(this.db, this.dispatcherId);
  }

  /** One attempt of one delivery; never throws. */
  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const notifier = this.notifiers.get(delivery.channel);
    const started = Date.now();
    let result: DeliveryResult;
    if (!notifier) {
      result = { ok: false, retryable: true, error: `no ${delivery.channel} notifier is configured on this dispatcher` };
    } else {
      const signal = AbortSignal.timeout(this.options.timeoutMs);
      result = await notifier.deliver(toMessage(delivery), signal).catch(
        (error: unknown): DeliveryResult => ({ ok: false, retryable: true, error: error instanceof Error ? error.message : String(error) }),
      );
      if (signal.aborted && !result.ok) result = { ...result, retryable: true, error: `timed out after ${this.options.timeoutMs} ms` };
    }
    const outcome = this.outcomeOf(delivery, result);
    metrics.deliveries.inc({ channel: delivery.channel.toLowerCase(), outcome: outcome.kind, attempt: String(delivery.attempt) });
    const context = { dispatcher: this.dispatcherId, delivery: delivery.id, channel: delivery.channel, attempt: delivery.attempt };
    if (!result.ok) log.warn('delivery attempt failed', { ...context, error: result.error, statusCode: result.statusCode, next: outcome });
    const attempt = { durationMs: Date.now() - started, statusCode: result.statusCode ?? null, error: result.ok ? null : result.error.slice(0, 500) };
    await this.record(delivery, attempt, outcome, context);
  }

  /**
   * Records the outcome, retrying while the database cannot be reached. Our claim stays ours
   * meanwhile (the fencing token makes a late record harmless if it was taken over); at shutdown
   * the retrying stops and the lease or the dead-dispatcher recovery takes over.
   */
  private async record(
    delivery: ClaimedDelivery,
    attempt: { durationMs: number; statusCode: number | null; error: string | null },
    outcome: DeliveryOutcome,
    context: Record<string, unknown>,
  ): Promise<void> {
    let delayMs = RECORD_RETRY_FIRST_MS;
    for (let tries = 1; ; tries++) {
      try {
        const recorded = await recordDeliveryOutcome(this.db, this.dispatcherId, delivery, attempt, outcome);
        if (!recorded) log.warn('delivery claim was taken over; outcome not recorded', context);
        else if (tries > 1) log.info('delivery outcome recorded after retrying', { ...context, tries, outcome: outcome.kind });
        return;
      } catch (error) {
        if (this.stopping) {
          log.error('could not record delivery outcome; left to the lease', { ...context, error });
          return;
        }
        if (tries === 1) log.error('could not record delivery outcome; retrying', { ...context, error, inMs: delayMs });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, RECORD_RETRY_MAX_MS);
      }
    }
  }

  private outcomeOf(delivery: ClaimedDelivery, result: DeliveryResult): DeliveryOutcome {
    if (result.ok) return { kind: 'sent' };
    if (!result.retryable || delivery.attempt >= this.options.maxAttempts) return { kind: 'failed' };
    return { kind: 'retry', inMs: retryDelayMs(delivery.attempt, this.options.backoffBaseMs, this.options.backoffMaxMs) };
  }
}

/**
 * The wait before the next attempt after failed attempt number `attempt` (1-based), in ms:
 * `baseMs × 2^(attempt − 1)`, capped at `maxMs` (1 hour by default), then scaled by a random factor
 * in [0.5, 1) ("equal jitter"), so deliveries that failed together (an endpoint outage) do not all
 * retry at the same moment. `random` is injectable for tests; it must return a value in [0, 1).
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs = BACKOFF_MAX_MS, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(exponential * (0.5 + random() * 0.5));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

/** What a notifier sees: the API's ids, and a message id that is the same on every retry. */
function toMessage(delivery: ClaimedDelivery): DeliveryMessage {
  return {
    deliveryId: delivery.id,
    messageId: `msg_${delivery.eventId}`,
    attempt: delivery.attempt,
    payload: reminderFiredPayload(delivery),
    ...(delivery.endpointUrl && delivery.endpointSecret ? { endpoint: { url: delivery.endpointUrl, secret: delivery.endpointSecret } } : {}),
    ...(delivery.email ? { email: delivery.email } : {}),
  };
}
