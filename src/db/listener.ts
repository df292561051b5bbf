/**
 * One PostgreSQL connection per process that LISTENs for Tickler's notifications, reconnecting
 * with backoff when it drops. Prisma cannot LISTEN, so this is a plain `pg` client. A dropped
 * connection loses the notifications sent meanwhile: listeners get a `reconnected` call and must
 * catch up from the database (the dispatcher re-reads what is due; the event hub re-reads the log).
 *
 * A connection can also die silently: a NAT or proxy that drops its traffic leaves the socket open
 * and no error ever arrives (pg-boss had this bug, timgit/pg-boss#850). So the listener pings its
 * own connection every `pingMs` with an empty query (a round trip that runs no statement and so
 * costs no entry in pg_stat_statements), and a ping not answered within `pingMs` counts as a lost
 * connection: the socket is destroyed and replaced. TCP keepalive is on as a second line.
 */
import { Socket } from 'node:net';
import pg from 'pg';
import { log } from '../logger.js';
import { metrics } from '../metrics/registry.js';

export type NotificationHandler = (payload: string) => void;

export interface ListenerHooks {
  /** Called after a reconnect: notifications may have been missed. */
  reconnected?: () => void;
}

export interface ListenerOptions {
  /** Ping period, and how long a ping may take before the connection counts as dead (default 2000 ms). */
  pingMs?: number;
}

const MAX_BACKOFF_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;
const KEEPALIVE_INITIAL_DELAY_MS = 5000;

export class PgListener {
  private client: pg.Client | undefined;
  private socket: Socket | undefined;
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private readonly reconnectHooks = new Set<() => void>();
  private closed = false;
  private backoffMs = 100;
  private connecting: Promise<void> | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly pingMs: number;

  constructor(
    private readonly databaseUrl: string,
    options: ListenerOptions = {},
  ) {
    this.pingMs = options.pingMs ?? 2000;
  }

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
    // Our own socket, so that a connection that stopped answering can be destroyed at once
    // (client.end() would wait for a goodbye that never comes).
    const socket = new Socket();
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      stream: () => socket,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'tickler-listener',
    });
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    if (this.closed) {
      // close() ran while we connected: this connection has no owner left to end it.
      await client.end().catch(() => undefined);
      socket.destroy();
      return;
    }
    this.client = client;
    this.socket = socket;
    this.backoffMs = 100;
    this.schedulePing(client);
  }

  private schedulePing(client: pg.Client): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      if (this.client !== client) return;
      let answered = false;
      const timeout = setTimeout(() => {
        if (!answered) this.lost(client, new Error(`no answer to a ping within ${this.pingMs} ms`));
      }, this.pingMs);
      timeout.unref();
      client.query('').then(
        () => {
          answered = true;
          clearTimeout(timeout);
          this.schedulePing(client);
        },
        (error: unknown) => {
          answered = true;
          clearTimeout(timeout);
          this.lost(client, error instanceof Error ? error : new Error(String(error)));
        },
      );
    }, this.pingMs);
    this.pingTimer.unref();
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearTimeout(this.pingTimer);
    client.removeAllListeners('end');
    // Errors of the dead client (the pending ping, a late reset) are expected from here on.
    client.on('error', () => undefined);
    this.socket?.destroy();
    this.socket = undefined;
    if (this.closed) return;
    log.warn('notification connection lost; replacing it', { error, inMs: this.backoffMs });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    setTimeout(() => {
      if (this.closed) return;
      this.connect().then(
        () => {
          metrics.listenerReconnects.inc();
          log.info('notification connection restored; catching up on what was missed');
          for (const hook of this.reconnectHooks) hook();
        },
        (error: unknown) => {
          log.warn('notification reconnect failed', { error, inMs: this.backoffMs });
          this.scheduleReconnect();
        },
      );
    }, delay).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    // A connection being opened is ended by open() itself once it sees `closed`.
    await this.connecting?.catch(() => undefined);
    clearTimeout(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      this.socket?.destroy();
    }
  }
}
