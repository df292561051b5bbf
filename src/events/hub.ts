/**
 * Fans the event log out to live subscribers in this process. Any instance may fire a reminder;
 * its statement ends with `pg_notify('tickler_events')`, which only pokes: the hub then reads every
 * event after the last position it handed out, in commit order, and hands each to that user's
 * subscribers.
 *
 * Commit order is (xid, id) read below the watermark, the oldest transaction still running in the
 * cluster (see sql/read-committed-events.ts): what lies below it is final, so walking it in order
 * never skips an event that commits later, on this instance or any other, without any lock shared
 * between writers. The price: events wait while an older transaction anywhere in the cluster is
 * still running (delayed, never lost); the hub polls meanwhile, with backoff, and logs a lag.
 * A lost notification is made up by the next poke, the slow fallback poll, or the listener's
 * catch-up after it reconnects.
 */
import type { Database } from '../db/client.js';
import type { PgListener } from '../db/listener.js';
import { log } from '../logger.js';
import { isAfter, LOG_START, type EventRow, type LogPosition } from './sql/event-row.js';
import { logHead } from './sql/log-head.js';
import { positionOfEvent } from './sql/position-of-event.js';
import { readCommittedEvents } from './sql/read-committed-events.js';
import { readUserEvents } from './sql/read-user-events.js';

export interface ReminderFiredEvent {
  /** The client-visible cursor: unique, but not in delivery order (see `xid`). */
  id: bigint;
  /** With `id`, the event's place in commit order (internal; never shown to clients). */
  xid: bigint;
  userId: string;
  taskId: string;
  reminderId: string;
  occurredAt: Date;
  taskTitle: string;
  deadline: Date;
  triggerAt: Date;
}

function toEvent(row: EventRow): ReminderFiredEvent {
  return {
    id: row.id,
    xid: row.xid,
    userId: row.user_id,
    taskId: row.task_id,
    reminderId: row.reminder_id,
    occurredAt: row.occurred_at,
    taskTitle: row.payload.taskTitle,
    deadline: new Date(row.payload.deadline),
    triggerAt: new Date(row.payload.triggerAt),
  };
}

/** A subscriber this far behind (queued, unread events) is cut off; it can resume with `after`. */
const MAX_QUEUED_PER_SUBSCRIBER = 1000;
/**
 * How many missed events one subscription replays. With exactly this many missed, all of them are
 * replayed and the subscription goes live; with more, this many are delivered and the subscription
 * then ends with SubscriberTooSlowError, so the client resumes from the last one it received.
 */
export const MAX_REPLAY = 10_000;
const FETCH_BATCH = 1000;
const REPLAY_PAGE = 500;
const FALLBACK_POLL_MS = 10_000;
/** Re-reads while events are held back by an older running transaction: first delay, then doubling. */
const HELD_BACK_FIRST_MS = 20;
const HELD_BACK_MAX_MS = 250;
/** Held back this long: log it (a long transaction somewhere in the cluster delays live events). */
const LAG_WARNING_MS = 5000;

export class SubscriberTooSlowError extends Error {}
export class HubNotReadyError extends Error {}

export class EventHub {
  private position: LogPosition = LOG_START;
  private readonly subscribers = new Map<string, Set<Subscription>>();
  private fetching: Promise<void> | undefined;
  private pokedWhileFetching = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private heldBackTimer: NodeJS.Timeout | undefined;
  private heldBackDelayMs = HELD_BACK_FIRST_MS;
  private heldBackSince: number | undefined;
  private lagLogged = false;
  private unlisten: (() => void) | undefined;
  private stopped = false;
  private started = false;
  /** The latest start(), which stop() waits for. */
  private starting: Promise<void> | undefined;
  private readonly open = new Set<Subscription>();

  /** `db` should be the dispatcher's own small pool (src/db/client.ts), so API load cannot starve it. */
  constructor(
    private readonly db: Database,
    private readonly listener: PgListener,
  ) {}

  /** Reads the log's head and listens. A stop() that arrives meanwhile waits for it, and undoes it. */
  start(): Promise<void> {
    const starting = this.startOnce();
    this.starting = starting;
    return starting;
  }

  private async startOnce(): Promise<void> {
    if (this.stopped) return;
    this.position = await logHead(this.db);
    this.unlisten?.();
    this.unlisten = await this.listener.listen('tickler_events', () => this.poke(), { reconnected: () => this.poke() });
    if (this.stopped) return;
    clearTimeout(this.pollTimer);
    this.schedulePoll();
    this.started = true;
  }

  /** Open subscriptions in this process, of one user or of all (observability; tests of unsubscribing). */
  subscriptionCount(userId?: string): number {
    return userId === undefined ? this.open.size : (this.subscribers.get(userId)?.size ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => undefined);
    clearTimeout(this.pollTimer);
    clearTimeout(this.heldBackTimer);
    this.unlisten?.();
    for (const subscription of [...this.open]) await subscription.return();
    await this.fetching;
  }

  /**
   * Live events of `userId` from now on; with `after` (an event id the client received), first
   * every stored event of theirs positioned after it. The subscriber is registered before the
   * replay reads, so nothing committed in between is missed; events that both paths deliver are
   * dropped by position.
   */
  subscribe(userId: string, after: bigint | null, filter: (event: ReminderFiredEvent) => boolean): AsyncIterableIterator<ReminderFiredEvent> {
    if (!this.started) throw new HubNotReadyError('live events are not available yet; try again shortly');
    let subscribers = this.subscribers.get(userId);
    if (!subscribers) this.subscribers.set(userId, (subscribers = new Set()));
    const subscription = new Subscription(this, userId, after === null ? this.position : after, filter);
    subscribers.add(subscription);
    this.open.add(subscription);
    return subscription;
  }

  /** The subscription's replay: where `after` lies in the log (internal: called by Subscription). */
  positionOf(after: bigint): Promise<LogPosition> {
    return positionOfEvent(this.db, after);
  }

  /** One page of a user's stored events after `from` (internal: called by Subscription). */
  async replayPage(userId: string, from: LogPosition, limit: number): Promise<ReminderFiredEvent[]> {
    return (await readUserEvents(this.db, userId, from, limit)).map(toEvent);
  }

  /** Forgets a subscription that ended (internal: called by Subscription). */
  release(subscription: Subscription): void {
    this.open.delete(subscription);
    const subscribers = this.subscribers.get(subscription.userId);
    if (!subscribers) return;
    subscribers.delete(subscription);
    if (subscribers.size === 0) this.subscribers.delete(subscription.userId);
  }

  /** Read new events (coalescing pokes that arrive while reading) and hand them out. */
  private poke(): void {
    if (this.stopped) return;
    if (this.fetching) {
      this.pokedWhileFetching = true;
      return;
    }
    this.fetching = this.fetchNew()
      .catch((error: unknown) => log.error('event hub could not read the event log', { error }))
      .finally(() => {
        this.fetching = undefined;
        if (this.pokedWhileFetching) {
          this.pokedWhileFetching = false;
          this.poke();
        }
      });
  }

  private async fetchNew(): Promise<void> {
    if (this.subscribers.size === 0) {
      // Nobody here to hand events to: only keep the position current. If someone subscribed
      // while we asked, jumping ahead could skip events they must get: read them normally instead.
      const head = await logHead(this.db);
      if (this.subscribers.size === 0) {
        if (isAfter(head, this.position)) this.position = head;
        this.heldBack(false);
        return;
      }
    }
    while (true) {
      const { rows, heldBack } = await readCommittedEvents(this.db, this.position, FETCH_BATCH);
      for (const row of rows) {
        this.position = { xid: row.xid, id: row.id };
        const subscribers = this.subscribers.get(row.user_id);
        if (!subscribers) continue;
        const event = toEvent(row);
        for (const subscriber of subscribers) subscriber.push(event);
      }
      if (rows.length < FETCH_BATCH) {
        this.heldBack(heldBack);
        return;
      }
    }
  }

  /**
   * Events exist beyond the watermark: an older transaction still runs, and its end sends no
   * notification. Look again soon (backing off), and say so when it lasts.
   */
  private heldBack(held: boolean): void {
    clearTimeout(this.heldBackTimer);
    if (!held) {
      if (this.lagLogged) log.info('event log watermark caught up', { heldBackMs: Date.now() - (this.heldBackSince ?? Date.now()) });
      this.heldBackSince = undefined;
      this.heldBackDelayMs = HELD_BACK_FIRST_MS;
      this.lagLogged = false;
      return;
    }
    this.heldBackSince ??= Date.now();
    const heldMs = Date.now() - this.heldBackSince;
    if (heldMs >= LAG_WARNING_MS && !this.lagLogged) {
      this.lagLogged = true;
      log.warn('live events held back by a long-running transaction in the cluster (they are delayed, not lost)', { heldBackMs: heldMs });
    }
    this.heldBackTimer = setTimeout(() => this.poke(), this.heldBackDelayMs);
    this.heldBackTimer.unref();
    this.heldBackDelayMs = Math.min(this.heldBackDelayMs * 2, HELD_BACK_MAX_MS);
  }

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      // Only worth a query when someone is listening here.
      if (this.subscribers.size > 0) this.poke();
      if (!this.stopped) this.schedulePoll();
    }, FALLBACK_POLL_MS);
    this.pollTimer.unref();
  }
}

/**
 * One subscriber's stream: replay pages first (when resuming), then the live queue. A hand-written
 * iterator rather than an async generator so that `return()` (the client unsubscribed or went away)
 * takes effect at once, even while `next()` is waiting for the next event.
 *
 * Live, it holds no async frame: a `next()` with nothing queued leaves one pending promise, which
 * `push` settles. Thousands of idle subscribers wait here at once, so what one of them retains
 * counts (bench fanout measures the heap per connection). `next()` is called once at a time (the
 * `for await` of graphql-js and graphql-ws).
 */
class Subscription implements AsyncIterableIterator<ReminderFiredEvent> {
  private readonly queue: ReminderFiredEvent[] = [];
  private closed = false;
  private overflowed = false;
  private replayed = 0;
  private replayBuffer: ReminderFiredEvent[] = [];
  /** Where the client is: the position of the last event handed to it (or skipped by its filter). */
  private last: LogPosition | undefined;
  /** With `after` (an event id), the position it stands for is read on the first `next()`. */
  private startAfter: bigint | undefined;
  private replaying: boolean;
  /**
   * While replaying, live events are not queued (a replay of thousands would overflow the queue
   * with events the replay reads anyway); only the latest one's position is kept, and the replay
   * goes on until it has passed it. Then the subscription switches to the live queue.
   */
  private pushedWhileReplaying: LogPosition | undefined;
  /** The furthest position read into the replay buffer or the queue: nothing at or before it is queued again. */
  private seen: LogPosition | undefined;
  /** The pending live `next()`, settled by `push` or `return`. */
  private waiting: { resolve: (result: IteratorResult<ReminderFiredEvent>) => void; reject: (error: unknown) => void } | undefined;

  constructor(
    private readonly hub: EventHub,
    readonly userId: string,
    /** The hub's position (live from there) or an event id to replay after. */
    start: LogPosition | bigint,
    private readonly filter: (event: ReminderFiredEvent) => boolean,
  ) {
    if (typeof start === 'bigint') {
      this.startAfter = start;
      this.replaying = true;
    } else {
      this.last = start;
      this.replaying = false;
    }
  }

  push(event: ReminderFiredEvent): void {
    const position = { xid: event.xid, id: event.id };
    if (this.replaying) {
      if (this.pushedWhileReplaying === undefined || isAfter(position, this.pushedWhileReplaying)) this.pushedWhileReplaying = position;
      return;
    }
    // Already replayed (a hub that fell behind hands out again what the replay read): not queued,
    // so it cannot overflow the queue.
    if (this.seen !== undefined && !isAfter(position, this.seen)) return;
    if (this.queue.length >= MAX_QUEUED_PER_SUBSCRIBER) this.overflowed = true;
    else {
      this.queue.push(event);
      this.seen = position;
    }
    const waiting = this.waiting;
    if (waiting === undefined) return;
    try {
      const result = this.takeLive();
      if (result === undefined) return;
      this.waiting = undefined;
      waiting.resolve(result);
    } catch (error) {
      this.waiting = undefined;
      waiting.reject(error);
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ReminderFiredEvent>> {
    if (this.replaying || this.replayBuffer.length > 0) return this.nextReplayed();
    try {
      const result = this.takeLive();
      if (result !== undefined) return Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The next live result, or undefined when nothing queued passes (then `next()` waits). Throws when the subscriber overflowed. */
  private takeLive(): IteratorResult<ReminderFiredEvent> | undefined {
    if (this.closed) return { value: undefined, done: true };
    if (this.overflowed) {
      this.end();
      throw new SubscriberTooSlowError('subscriber fell too far behind; resubscribe with `after`');
    }
    let event: ReminderFiredEvent | undefined;
    while ((event = this.queue.shift()) !== undefined) {
      if (this.accept(event)) return { value: event, done: false };
    }
    return undefined;
  }

  /** Moves the client's position past `event`; true when it is new to the client and passes the filter. */
  private accept(event: ReminderFiredEvent): boolean {
    const position = { xid: event.xid, id: event.id };
    if (this.last !== undefined && !isAfter(position, this.last)) return false;
    this.last = position;
    return this.filter(event);
  }

  /** While replaying: pages read from the log, then the live path. */
  private async nextReplayed(): Promise<IteratorResult<ReminderFiredEvent>> {
    while (!this.closed && (this.replaying || this.replayBuffer.length > 0)) {
      const event = this.replayBuffer.shift() ?? (await this.readReplayPage());
      if (event !== undefined && this.accept(event)) return { value: event, done: false };
    }
    return this.next();
  }

  /** Reads the next replay page into the buffer and returns its first event, if any. */
  private async readReplayPage(): Promise<ReminderFiredEvent | undefined> {
    if (this.startAfter !== undefined) {
      this.last = await this.hub.positionOf(this.startAfter);
      this.startAfter = undefined;
    }
    const from = this.last ?? LOG_START;
    if (this.replayed >= MAX_REPLAY) {
      // Everything allowed was handed out; one more stored event means the client missed more.
      const more = await this.hub.replayPage(this.userId, from, 1);
      if (more.length > 0) {
        this.end();
        throw new SubscriberTooSlowError(
          `more than ${MAX_REPLAY} events to replay; the first ${MAX_REPLAY} were delivered: resubscribe with \`after\` set to the last id received`,
        );
      }
      this.replaying = false;
      return undefined;
    }
    const limit = Math.min(REPLAY_PAGE, MAX_REPLAY - this.replayed);
    const page = await this.hub.replayPage(this.userId, from, limit);
    this.replayed += page.length;
    // A short page read everything below the watermark; what commits later arrives live, unless
    // the hub already handed out something beyond this page (then read on).
    const lastEvent = page[page.length - 1];
    const reached = lastEvent ? { xid: lastEvent.xid, id: lastEvent.id } : from;
    this.seen = reached;
    if (page.length < limit && (this.pushedWhileReplaying === undefined || !isAfter(this.pushedWhileReplaying, reached))) {
      this.replaying = false;
    }
    this.replayBuffer = page;
    return this.replayBuffer.shift();
  }

  /** Closes the stream: the hub forgets it, and a pending `next()` answers done. */
  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.release(this);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
  }

  async return(): Promise<IteratorResult<ReminderFiredEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ReminderFiredEvent>> {
    this.end();
    throw error;
  }
}
