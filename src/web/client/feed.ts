/**
 * The live feed of fired reminders over graphql-ws (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
 * When the socket drops (server restart, network), it reconnects with backoff and resubscribes with
 * `after` set to the last event id it received, so the server replays what was missed: no gap and,
 * because replay starts strictly after that id, no duplicate. Each drop and resume is reported, so
 * the page can show it in the feed.
 */
import { createClient, type Client } from 'graphql-ws';
import { DashboardReminderFired } from './operations.js';
import type { DashboardReminderFiredSubscription } from '../gql/graphql.js';

export type FiredEvent = DashboardReminderFiredSubscription['reminderFired'];

export type FeedStatus = 'connecting' | 'live' | 'reconnecting' | 'refused';

export interface FeedListener {
  /** `replayed`: it fired while this page was disconnected and came from the server's event log. */
  event(event: FiredEvent, replayed: boolean): void;
  status(status: FeedStatus): void;
  /** The socket dropped (`code` is the WebSocket close code, when there was one). */
  dropped(code: number | undefined): void;
  /** Subscribed again; `after` is the cursor sent, null when nothing had been received yet. */
  resumed(after: string | null): void;
}

/** The server closes with 4403 for a missing or bad token: retrying cannot help. */
const FORBIDDEN = 4403;
/** Backoff between reconnection attempts: 0.5 s doubling to 10 s, with jitter so a restart is not stampeded. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

function closeCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number' ? error.code : undefined;
}

export class ReminderFeed {
  private lastId: string | null = null;
  private client: Client | undefined;
  /** Counts connections; callbacks of an older one are ignored. */
  private generation = 0;
  private retries = 0;
  private everConnected = false;
  private live = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly token: string,
    private readonly listener: FeedListener,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.timer);
    void this.client?.dispose();
  }

  private connect(): void {
    const generation = ++this.generation;
    const resuming = this.everConnected;
    const after = this.lastId;
    let acknowledgedAt: number | undefined;
    this.listener.status(resuming ? 'reconnecting' : 'connecting');
    const url = new URL('/graphql', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const client = createClient({
      url: url.toString(),
      connectionParams: { authorization: `Bearer ${this.token}` },
      lazy: false,
      // Reconnection is ours, so that every new subscription carries the latest `after`.
      retryAttempts: 0,
      keepAlive: 15_000,
      onNonLazyError: () => undefined,
      on: {
        connected: () => {
          if (generation !== this.generation) return;
          acknowledgedAt = Date.now();
          this.retries = 0;
          this.everConnected = true;
          this.live = true;
          this.listener.status('live');
          if (resuming) this.listener.resumed(after);
        },
      },
    });
    this.client = client;
    client.subscribe<DashboardReminderFiredSubscription>(
      { query: DashboardReminderFired.toString(), variables: { after } },
      {
        next: (result) => {
          const event = result.data?.reminderFired;
          if (generation !== this.generation || !event) return;
          this.lastId = event.id;
          // Fired before this socket was acknowledged, so it can only have come from the replay.
          const replayed = resuming && acknowledgedAt !== undefined && Date.parse(event.occurredAt) < acknowledgedAt;
          this.listener.event(event, replayed);
        },
        error: (error) => this.lost(generation, closeCode(error)),
        complete: () => this.lost(generation, undefined),
      },
    );
  }

  private lost(generation: number, code: number | undefined): void {
    if (generation !== this.generation || this.stopped) return;
    this.generation += 1;
    void this.client?.dispose();
    if (code === FORBIDDEN) {
      this.listener.status('refused');
      return;
    }
    if (this.live) this.listener.dropped(code);
    this.live = false;
    const wait = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries) * (0.75 + Math.random() * 0.5);
    this.retries += 1;
    this.listener.status('reconnecting');
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
