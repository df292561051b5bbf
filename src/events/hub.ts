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

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.unlisten?.();
    await this.fetching;
  }

  /** Live events of `userId` from now on; with `after`, first every stored event after that id. */
  async *subscribe(userId: string, after: bigint | null, filter: (event: ReminderFiredEvent) => boolean): AsyncGenerator<ReminderFiredEvent> {
    if (!this.started) throw new HubNotReadyError('live events are not available yet; try again shortly');
    const queue: ReminderFiredEvent[] = [];
    let notify: (() => void) | undefined;
    let overflowed = false;
    const push: Push = (event) => {
      if (queue.length >= MAX_QUEUED_PER_SUBSCRIBER) overflowed = true;
      else queue.push(event);
      notify?.();
    };
    // Registered before the replay query, so nothing committed in between is missed; the id check
    // below drops what both paths deliver.
    let set = this.subscribers.get(userId);
    if (!set) this.subscribers.set(userId, (set = new Set()));
    set.add(push);
    let last = after ?? this.lastSeenId;
    try {
      if (after !== null) {
        let replayed = 0;
        while (true) {
          const rows = await this.db.$queryRaw<EventRow[]>`
            SELECT id, user_id, task_id, reminder_id, occurred_at, payload FROM events
            WHERE user_id = ${userId}::uuid AND id > ${last}
            ORDER BY id LIMIT 500`;
          for (const row of rows) {
            const event = toEvent(row);
            last = event.id;
            if (filter(event)) yield event;
          }
          replayed += rows.length;
          if (rows.length < 500) break;
          if (replayed >= MAX_REPLAY) throw new SubscriberTooSlowError(`more than ${MAX_REPLAY} events to replay`);
        }
      }
      while (!this.stopped) {
        if (overflowed) throw new SubscriberTooSlowError('subscriber fell too far behind; resubscribe with `after`');
        const event = queue.shift();
        if (!event) {
          await new Promise<void>((resolve) => (notify = resolve));
          notify = undefined;
          continue;
        }
        if (event.id <= last) continue;
        last = event.id;
        if (filter(event)) yield event;
      }
    } finally {
      set.delete(push);
      if (set.size === 0 && this.subscribers.get(userId) === set) this.subscribers.delete(userId);
    }
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
      // Nobody here to hand events to: only keep the position current.
      const [row] = await this.db.$queryRaw<Array<{ max: bigint | null }>>`SELECT max(id) AS max FROM events`;
      if (row?.max != null && row.max > this.lastSeenId) this.lastSeenId = row.max;
      return;
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
