/**
 * Fans the event log out to live subscribers in this process. Any instance may fire a reminder;
 * its transaction ends with `pg_notify('tickler_events')`, which only pokes: the hub then reads
 * every event after the last one it saw, in id order, and hands each to that user's subscribers.
 * Because event ids commit in order (see fire-reminders.ts), reading "after the last seen id"
 * never skips one, and a lost notification is made up by the next poke or the slow fallback poll.
 */
import type { Database } from '../db/client.js';
import type { PgListener } from '../db/listener.js';
import { log } from '../logger.js';

export interface ReminderFiredEvent {
  id: bigint;
  userId: string;
  taskId: string;
  reminderId: string;
  occurredAt: Date;
  taskTitle: string;
  deadline: Date;
  triggerAt: Date;
}

interface EventRow {
  id: bigint;
  user_id: string;
  task_id: string;
  reminder_id: string;
  occurred_at: Date;
  payload: { taskTitle: string; deadline: string; triggerAt: string };
}

function toEvent(row: EventRow): ReminderFiredEvent {
  return {
    id: row.id,
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
/** How many missed events a resuming subscriber may replay. */
export const MAX_REPLAY = 10_000;
const FETCH_BATCH = 1000;
const REPLAY_PAGE = 500;
const FALLBACK_POLL_MS = 10_000;

export class SubscriberTooSlowError extends Error {}
export class HubNotReadyError extends Error {}

type Push = (event: ReminderFiredEvent) => void;

export class EventHub {
  private lastSeenId = 0n;
  private readonly subscribers = new Map<string, Set<Push>>();
  private fetching: Promise<void> | undefined;
  private pokedWhileFetching = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  private stopped = false;
  private started = false;
  private readonly open = new Set<Subscription>();

  constructor(
    private readonly db: Database,
    private readonly listener: PgListener,
  ) {}

  async start(): Promise<void> {
    const [row] = await this.db.$queryRaw<Array<{ max: bigint | null }>>`SELECT max(id) AS max FROM events`;
    this.lastSeenId = row?.max ?? 0n;
    this.unlisten = await this.listener.listen('tickler_events', () => this.poke(), { reconnected: () => this.poke() });
    this.schedulePoll();
    this.started = true;
  }

  /** Open subscriptions in this process, of one user or of all (observability; tests of unsubscribing). */
  subscriptionCount(userId?: string): number {
    return userId === undefined ? this.open.size : (this.subscribers.get(userId)?.size ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.unlisten?.();
    for (const subscription of [...this.open]) await subscription.return();
    await this.fetching;
  }

  /**
   * Live events of `userId` from now on; with `after`, first every stored event after that id.
   * The subscriber is registered before the replay query, so nothing committed in between is
   * missed; events that both paths deliver are dropped by id.
   */
  subscribe(userId: string, after: bigint | null, filter: (event: ReminderFiredEvent) => boolean): AsyncIterableIterator<ReminderFiredEvent> {
    if (!this.started) throw new HubNotReadyError('live events are not available yet; try again shortly');
    let set = this.subscribers.get(userId);
    if (!set) this.subscribers.set(userId, (set = new Set()));
    const subscribers = set;
    const subscription = new Subscription(
      after ?? this.lastSeenId,
      after === null ? null : (from) => this.replayPage(userId, from),
      filter,
      () => {
        subscribers.delete(subscription.push);
        if (subscribers.size === 0 && this.subscribers.get(userId) === subscribers) this.subscribers.delete(userId);
      },
    );
    subscribers.add(subscription.push);
    this.open.add(subscription);
    subscription.onClose(() => this.open.delete(subscription));
    return subscription;
  }

  private async replayPage(userId: string, afterId: bigint): Promise<ReminderFiredEvent[]> {
    const rows = await this.db.$queryRaw<EventRow[]>`
      SELECT id, user_id, task_id, reminder_id, occurred_at, payload FROM events
      WHERE user_id = ${userId}::uuid AND id > ${afterId}
      ORDER BY id LIMIT ${REPLAY_PAGE}`;
    return rows.map(toEvent);
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
      const [row] = await this.db.$queryRaw<Array<{ max: bigint | null }>>`SELECT max(id) AS max FROM events`;
      if (this.subscribers.size === 0) {
        if (row?.max != null && row.max > this.lastSeenId) this.lastSeenId = row.max;
        return;
      }
    }
    while (true) {
      const rows = await this.db.$queryRaw<EventRow[]>`
        SELECT id, user_id, task_id, reminder_id, occurred_at, payload FROM events
        WHERE id > ${this.lastSeenId} ORDER BY id LIMIT ${FETCH_BATCH}`;
      for (const row of rows) {
        this.lastSeenId = row.id;
        const subscribers = this.subscribers.get(row.user_id);
        if (!subscribers) continue;
        const event = toEvent(row);
        for (const push of subscribers) push(event);
      }
      if (rows.length < FETCH_BATCH) return;
    }
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
 */
class Subscription implements AsyncIterableIterator<ReminderFiredEvent> {
  private readonly queue: ReminderFiredEvent[] = [];
  private wakeUp: (() => void) | undefined;
  private closed = false;
  private overflowed = false;
  private replayed = 0;
  private readonly closeHooks: Array<() => void> = [];
  private replayBuffer: ReminderFiredEvent[] = [];

  constructor(
    private last: bigint,
    private replay: ((afterId: bigint) => Promise<ReminderFiredEvent[]>) | null,
    private readonly filter: (event: ReminderFiredEvent) => boolean,
    unregister: () => void,
  ) {
    this.closeHooks.push(unregister);
  }

  readonly push = (event: ReminderFiredEvent): void => {
    if (this.queue.length >= MAX_QUEUED_PER_SUBSCRIBER) this.overflowed = true;
    else this.queue.push(event);
    this.wakeUp?.();
  };

  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ReminderFiredEvent>> {
    while (!this.closed) {
      const event = await this.take();
      if (event === undefined) continue;
      if (event.id <= this.last) continue;
      this.last = event.id;
      if (this.filter(event)) return { value: event, done: false };
    }
    return { value: undefined, done: true };
  }

  /** The next candidate event, or undefined after waking up with nothing new. */
  private async take(): Promise<ReminderFiredEvent | undefined> {
    const buffered = this.replayBuffer.shift();
    if (buffered) return buffered;
    if (this.replay) {
      const page = await this.replay(this.last);
      this.replayed += page.length;
      if (page.length < REPLAY_PAGE) this.replay = null;
      else if (this.replayed >= MAX_REPLAY) {
        await this.return();
        throw new SubscriberTooSlowError(`more than ${MAX_REPLAY} events to replay`);
      }
      this.replayBuffer = page;
      return this.replayBuffer.shift();
    }
    if (this.overflowed) {
      await this.return();
      throw new SubscriberTooSlowError('subscriber fell too far behind; resubscribe with `after`');
    }
    const event = this.queue.shift();
    if (event) return event;
    await new Promise<void>((resolve) => (this.wakeUp = resolve));
    this.wakeUp = undefined;
    return undefined;
  }

  async return(): Promise<IteratorResult<ReminderFiredEvent>> {
    if (!this.closed) {
      this.closed = true;
      for (const hook of this.closeHooks) hook();
      this.wakeUp?.();
    }
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ReminderFiredEvent>> {
    await this.return();
    throw error;
  }
}
