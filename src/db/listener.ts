/**
 * One PostgreSQL connection per process that LISTENs for Tickler's notifications, reconnecting
 * with backoff when it drops. Prisma cannot LISTEN, so this is a plain `pg` client. A dropped
 * connection loses the notifications sent meanwhile: listeners get a `reconnected` call and must
 * catch up from the database (the dispatcher re-reads what is due; the event hub re-reads the log).
 */
import pg from 'pg';
import { log } from '../logger.js';

export type NotificationHandler = (payload: string) => void;

export interface ListenerHooks {
  /** Called after a reconnect: notifications may have been missed. */
  reconnected?: () => void;
}

const MAX_BACKOFF_MS = 5000;

export class PgListener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private readonly reconnectHooks = new Set<() => void>();
  private closed = false;
  private backoffMs = 100;
  private connecting: Promise<void> | undefined;

  constructor(private readonly databaseUrl: string) {}

  /** Subscribes to a channel; returns the function that unsubscribes. */
  async listen(channel: string, handler: NotificationHandler, hooks: ListenerHooks = {}): Promise<() => void> {
    let set = this.handlers.get(channel);
    const isNewChannel = set === undefined;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    if (hooks.reconnected) this.reconnectHooks.add(hooks.reconnected);
    await this.connect();
    if (isNewChannel && this.client) await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return () => {
      set.delete(handler);
      if (hooks.reconnected) this.reconnectHooks.delete(hooks.reconnected);
    };
  }

  private connect(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true });
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    this.client = client;
    this.backoffMs = 100;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    if (this.closed) return;
    log.warn('notification connection lost; reconnecting', { error, inMs: this.backoffMs });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    setTimeout(() => {
      if (this.closed) return;
      this.connect().then(
        () => {
          log.info('notification connection restored');
          for (const hook of this.reconnectHooks) hook();
        },
        (error: unknown) => {
          log.warn('notification reconnect failed', { error });
          this.scheduleReconnect();
        },
      );
    }, delay).unref();
  }

  /** For tests: drop the connection as a network failure would. */
  simulateDrop(): void {
    const client = this.client;
    if (client) this.lost(client, new Error('simulated drop'));
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
