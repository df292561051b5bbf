/**
 * GraphQL over WebSocket (the graphql-ws protocol, "graphql-transport-ws") on the HTTP server's
 * GraphQL path. graphql-ws's `makeServer` speaks the protocol; this module is the binding to `ws`
 * (in place of `graphql-ws/use/ws`, whose error paths print library stack traces with
 * console.error) and holds what one client may cost the server:
 *
 * | What | Answer |
 * | --- | --- |
 * | a frame over `maxMessageBytes` (64 KiB), before or after `connection_init` | close 1009 (Message Too Big, RFC 6455 §7.4.1) |
 * | missing or invalid token in `connection_init` | close 4403 Forbidden |
 * | the token's `exp` passes while the socket is open | close 4403 Forbidden, reason "token expired"; reconnect with a fresh token and `after` |
 * | more than `socketsPerUser` sockets of one user on this instance | the extra socket is closed 4029, reason "too many sockets" (graphql-ws itself uses 4429 for "Too many initialisation requests") |
 * | more than `subscriptionsPerSocket` operations running on one socket | that operation answers an error with extensions.code TOO_MANY_SUBSCRIPTIONS; the socket stays |
 * | more than `socketBufferedBytes` queued unsent (a client that stopped reading) | close 1013 (Try Again Later), then the connection is dropped |
 * | a token whose `exp` is past the year 9999 | refused at `connection_init` (4403), as over HTTP |
 * | any other failure | close 4500 Internal Server Error |
 *
 * Every one of these is logged as one JSON line through our logger, without stacks, and repeated
 * lines of one kind are throttled, so nothing a client sends can flood the logs.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Viewer } from '../domain/types.js';
import type { Context } from '../graphql/context.js';
import { limitedLog, log, withLogContext, type LogFields } from '../logger.js';

export interface WebSocketLimits {
  /** A frame larger than this closes the socket with 1009. */
  maxMessageBytes: number;
  /** Open sockets per user on this instance; 0 means unlimited. */
  socketsPerUser: number;
  /** Operations (queries, mutations, subscriptions) running at once on one socket. */
  subscriptionsPerSocket: number;
  /** Bytes queued for a socket but not yet sent before it is closed as not reading. */
  socketBufferedBytes: number;
}

/** Close codes this module uses beyond graphql-ws's own (all in the private 4000-4999 range or RFC 6455's). */
export const SocketCloseCode = {
  MessageTooBig: 1009,
  TryAgainLater: 1013,
  Forbidden: CloseCode.Forbidden,
  /** Ours, distinct from graphql-ws's 4429 (Too many initialisation requests). */
  TooManySockets: 4029,
  InternalServerError: CloseCode.InternalServerError,
} as const;

/** Extra context a WebSocket operation carries into Yoga: the viewer verified when the socket opened. */
export interface SocketContext {
  socketViewer?: Viewer;
}

export interface SocketIdentity {
  viewer: Viewer;
  /** When the token that opened the socket expires; the socket closes then. */
  expiresAt: Date;
}

export interface GraphQLWebSocketOptions {
  httpServer: http.Server;
  yoga: YogaServerInstance<SocketContext, Context>;
  /**
   * Verifies the `connection_init` payload's token ({ authorization: "Bearer <token>" } or
   * { token }); resolves null when it is missing or invalid.
   */
  authenticate: (connectionParams: Record<string, unknown>) => Promise<SocketIdentity | null>;
  limits: WebSocketLimits;
  /** Ping period in ms; a socket that does not answer a ping within one period is dropped. */
  keepAliveMs?: number;
  /** The clock tokens are judged by (Unix ms): the database's (db/clock.ts), as for HTTP requests. */
  now?: () => number;
}

export interface GraphQLWebSocketServer {
  wsServer: WebSocketServer;
  /** Open sockets on this instance. */
  readonly socketCount: number;
  /** Closes every socket with 1001 (Going Away); `terminate` drops those still open. */
  closeAll(code: number, reason: string): void;
  terminateAll(): void;
  close(): Promise<void>;
}

interface SocketExtra {
  socket: WebSocket;
  identity?: SocketIdentity;
}

/** The error without `extensions.http`, which Yoga reads for an HTTP answer's status and headers. */
function withoutHttp(error: GraphQLError): GraphQLError {
  if (error.extensions.http === undefined) return error;
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

/** Largest delay setTimeout accepts (about 24.8 days); a later expiry is re-armed when it passes. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The token expiries of every open socket on one timer. Sockets are grouped by expiry instant (a
 * JWT's `exp` is whole seconds, so thousands of sockets share few instants), the instants are kept
 * sorted, and one setTimeout waits for the earliest. A timer per socket cost its Timeout, a closure
 * and a 'close' listener: about 0.7 KiB of heap per connection (bench fanout, heap snapshots).
 */
class ExpirySchedule<T> {
  private readonly due = new Map<number, Set<T>>();
  /** The keys of `due`, ascending. */
  private readonly instants: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;

  constructor(
    private readonly now: () => number,
    private readonly expire: (item: T) => void,
  ) {}

  /** `at` in Unix ms; one that is not a valid time is due at once (on the next turn). */
  add(item: T, at: number): void {
    const instant = Number.isFinite(at) ? at : -Infinity;
    let items = this.due.get(instant);
    if (items === undefined) {
      items = new Set();
      this.due.set(instant, items);
      this.instants.splice(this.indexOf(instant), 0, instant);
    }
    items.add(item);
    if (this.armedFor === undefined || instant < this.armedFor) this.arm();
  }

  delete(item: T, at: number): void {
    const instant = Number.isFinite(at) ? at : -Infinity;
    const items = this.due.get(instant);
    if (items === undefined || !items.delete(item) || items.size > 0) return;
    this.due.delete(instant);
    this.instants.splice(this.indexOf(instant), 1);
    if (this.instants.length === 0) this.disarm();
  }

  stop(): void {
    this.disarm();
  }

  /** Where `instant` is or would go in `instants` (binary search). */
  private indexOf(instant: number): number {
    let low = 0;
    let high = this.instants.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.instants[middle] as number) < instant) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }

  private arm(): void {
    this.disarm();
    const first = this.instants[0];
    if (first === undefined) return;
    this.armedFor = first;
    // Checked on the next turn at the earliest: onConnect acknowledges the socket first.
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.min(first - this.now(), MAX_TIMER_MS)));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    const now = this.now();
    while (this.instants.length > 0 && (this.instants[0] as number) <= now) {
      const instant = this.instants.shift() as number;
      const items = this.due.get(instant);
      this.due.delete(instant);
      for (const item of items ?? []) this.expire(item);
    }
    this.arm();
  }
}

/** Ticks per keep-alive period: each tick pings one slot's sockets, so 10,000 sockets are not pinged in one turn. */
const HEARTBEAT_SLOTS = 10;

/**
 * Pings every socket once per `periodMs` from one interval. Sockets are dealt round-robin into
 * HEARTBEAT_SLOTS slots and each tick visits one slot: a socket still awaiting the pong of its
 * previous ping when its slot comes round again (one period later) is dropped. A timer, a closure
 * and a 'pong' listener per socket cost about 0.6 KiB of heap per connection. The interval runs
 * only while sockets are open.
 */
class Heartbeat<T extends { heartbeatSlot: number; awaitingPong: boolean; socket: WebSocket }> {
  private readonly slots: Array<Set<T>> = Array.from({ length: HEARTBEAT_SLOTS }, () => new Set<T>());
  private next = 0;
  private dealt = 0;
  private size = 0;
  private interval: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  add(item: T): void {
    if (this.periodMs <= 0) return;
    item.heartbeatSlot = this.dealt++ % HEARTBEAT_SLOTS;
    (this.slots[item.heartbeatSlot] as Set<T>).add(item);
    this.size += 1;
    this.interval ??= setInterval(() => this.tick(), this.periodMs / HEARTBEAT_SLOTS);
  }

  delete(item: T): void {
    if (!this.slots[item.heartbeatSlot]?.delete(item)) return;
    this.size -= 1;
    if (this.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.interval);
    this.interval = undefined;
  }

  private tick(): void {
    const slot = this.slots[this.next] as Set<T>;
    this.next = (this.next + 1) % HEARTBEAT_SLOTS;
    for (const item of slot) {
      const socket = item.socket;
      if (socket.readyState !== socket.OPEN) continue;
      if (item.awaitingPong) {
        socket.terminate();
        continue;
      }
      item.awaitingPong = true;
      socket.ping();
    }
  }
}

export function attachGraphQLWebSocket(options: GraphQLWebSocketOptions): GraphQLWebSocketServer {
  const { yoga, limits, authenticate } = options;
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const now = options.now ?? Date.now;
  // Closes and socket errors are caused by clients at will: 10 lines of each kind per minute.
  const socketLog = limitedLog({ lines: 10, windowMs: 60_000 });
  const socketsByUser = new Map<string, Set<WebSocket>>();

  // The enveloped executors (with Yoga's error masking and limits) of each WebSocket operation, by context.
  const executors = new WeakMap<object, { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown }>();
  function executorsFor(args: ExecutionArgs) {
    const found = typeof args.contextValue === 'object' && args.contextValue !== null ? executors.get(args.contextValue) : undefined;
    if (!found) throw new Error('operation was not prepared by onSubscribe');
    return found;
  }

  function closeSocket(socket: WebSocket, code: number, reason: string, fields: LogFields = {}): void {
    if (socket.readyState === socket.CLOSING || socket.readyState === socket.CLOSED) return;
    socketLog.warn('websocket closed', { code, reason, ...fields });
    socket.close(code, reason);
  }

  /**
   * One open socket: what graphql-ws calls (`send`, `close`, `onMessage`, as methods) and its
   * `extra`, in one object whose methods live on the prototype. Its listeners on the `ws` socket
   * are shared functions that find it in `bindings`: an idle subscriber costs the server few
   * objects of its own (bench fanout measures the heap per connection).
   */
  class SocketBinding implements SocketExtra {
    readonly protocol: string;
    identity?: SocketIdentity;
    /** graphql-ws's message handler and close callback for this socket. */
    handle: ((data: string) => Promise<void>) | undefined;
    closed: ((code?: number, reason?: string) => Promise<void>) | undefined;
    heartbeatSlot = 0;
    awaitingPong = false;
    slowTimer: NodeJS.Timeout | undefined;

    constructor(readonly socket: WebSocket) {
      this.protocol = socket.protocol;
    }

    send(data: string): Promise<void> {
      const socket = this.socket;
      return new Promise<void>((resolve) => {
        if (socket.readyState !== socket.OPEN) return resolve();
        if (socket.bufferedAmount > limits.socketBufferedBytes) {
          this.dropSlowConsumer();
          return resolve();
        }
        // A failed write surfaces as the socket's 'error' and 'close'; the operation just ends.
        socket.send(data, () => resolve());
      });
    }

    close(code?: number, reason?: string): void {
      closeSocket(this.socket, code ?? 1000, reason ?? '');
    }

    onMessage(handle: (data: string) => Promise<void>): void {
      this.handle = handle;
    }

    private dropSlowConsumer(): void {
      closeSocket(this.socket, SocketCloseCode.TryAgainLater, `send buffer over ${limits.socketBufferedBytes} bytes: the client is not reading`, {
        bufferedBytes: this.socket.bufferedAmount,
      });
      // A client that does not read will never read the close frame either: free its buffer soon.
      const socket = this.socket;
      this.slowTimer ??= setTimeout(() => socket.terminate(), 1000);
    }
  }

  const bindings = new Map<WebSocket, SocketBinding>();
  const heartbeat = new Heartbeat<SocketBinding>(keepAliveMs);
  /** Closes the socket with 4403 when its token's `exp` passes (the graphql-ws #482 class of bug). */
  const expiries = new ExpirySchedule<SocketBinding>(now, (binding) => closeSocket(binding.socket, SocketCloseCode.Forbidden, 'token expired'));
  // One request for every socket operation: nothing reads it but Yoga's plumbing, and a Request
  // per operation (its Headers, URL and AbortSignal) was 1.7 KiB of heap per open subscription.
  // POST: Yoga refuses mutations on GET requests, and a socket operation may be a mutation.
  const socketRequest = new Request('http://websocket/graphql', { method: 'POST', headers: new Headers() });

  type ExecuteHook = NonNullable<ServerOptions<Record<string, unknown> | undefined, SocketExtra>['execute']>;
  type SubscribeHook = NonNullable<ServerOptions<Record<string, unknown> | undefined, SocketExtra>['subscribe']>;

  const protocol = makeServer<Record<string, unknown> | undefined, SocketBinding>({
    // Returning false closes with 4403 Forbidden. A socket over the per-user cap is closed 4029
    // here first (the later 4403 of graphql-ws is then ignored: the socket is already closing).
    onConnect: async (context) => {
      const binding = context.extra;
      const socket = binding.socket;
      const identity = await authenticate(context.connectionParams ?? {});
      if (identity === null) {
        socketLog.warn('websocket closed', { code: SocketCloseCode.Forbidden, reason: 'missing or invalid token' });
        return false;
      }
      const userSockets = socketsByUser.get(identity.viewer.userId) ?? new Set<WebSocket>();
      if (limits.socketsPerUser > 0 && userSockets.size >= limits.socketsPerUser) {
        closeSocket(socket, SocketCloseCode.TooManySockets, `too many sockets: at most ${limits.socketsPerUser} per user`);
        return false;
      }
      if (socket.readyState !== socket.OPEN) return false;
      userSockets.add(socket);
      socketsByUser.set(identity.viewer.userId, userSockets);
      // Released by the socket's 'close' (onSocketClose).
      binding.identity = identity;
      expiries.add(binding, identity.expiresAt.getTime());
      return true;
    },
    onSubscribe: async (context, _id, payload) => {
      const identity = context.extra.identity;
      if (identity === undefined) return [new GraphQLError('not authenticated')];
      if (now() >= identity.expiresAt.getTime()) {
        closeSocket(context.extra.socket, SocketCloseCode.Forbidden, 'token expired');
        return [new GraphQLError('token expired', { extensions: { code: 'UNAUTHENTICATED' } })];
      }
      // graphql-ws registers the operation before this hook, so the count includes this one.
      const running = Object.keys(context.subscriptions).length;
      if (running > limits.subscriptionsPerSocket) {
        return [
          new GraphQLError(`at most ${limits.subscriptionsPerSocket} operations may run at once on one socket`, {
            extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: limits.subscriptionsPerSocket },
          }),
        ];
      }
      const enveloped = yoga.getEnveloped({ request: socketRequest, params: payload, socketViewer: identity.viewer });
      let document: DocumentNode;
      try {
        document = enveloped.parse(payload.query);
      } catch (error) {
        // A syntax error is the client's mistake: answer it on the operation, keep the socket open.
        if (error instanceof GraphQLError) return [error];
        throw error;
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return errors.map(withoutHttp);
      const contextValue = await enveloped.contextFactory();
      executors.set(contextValue, { execute: enveloped.execute, subscribe: enveloped.subscribe });
      return {
        schema: enveloped.schema,
        document,
        contextValue,
        variableValues: payload.variables,
        operationName: payload.operationName,
      };
    },
    // `extensions.http` (a status for Yoga's HTTP answer) means nothing on a socket.
    onNext: (_context, _id, _payload, _args, result) => (result.errors?.length ? { ...result, errors: result.errors.map(withoutHttp) } : result),
    onError: (_context, _id, _payload, errors) => errors.map(withoutHttp),
    // Each operation's log lines carry a request id of their own, as HTTP requests' do.
    execute: (args) => withLogContext({ requestId: randomUUID() }, () => executorsFor(args).execute(args)) as ReturnType<ExecuteHook>,
    subscribe: (args) => withLogContext({ requestId: randomUUID() }, () => executorsFor(args).subscribe(args)) as ReturnType<SubscribeHook>,
  });

  // noServer, upgrades handed over below: the HTTP server's own errors (EADDRINUSE at listen) are then
  // not re-emitted here, and a failed start reports its one start-up error line.
  const wsServer = new WebSocketServer({
    noServer: true,
    path: yoga.graphqlEndpoint,
    maxPayload: limits.maxMessageBytes,
    handleProtocols: (protocols) => handleProtocols(protocols),
  });
  options.httpServer.on('upgrade', (request, socket, head) => {
    if (!wsServer.shouldHandle(request)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
  });
  // Errors of the listening server (the HTTP server's, re-emitted): one line, no stack.
  wsServer.on('error', (error) => log.error('websocket server error', { error }));

  // The listeners below are shared by every socket (`this` is the socket), not closures per socket.
  function onSocketError(this: WebSocket, error: Error & { code?: string }): void {
    // ws has already chosen the close code (1009 for a frame over maxPayload, 1002 for a protocol
    // error) and started closing; we only record it.
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      socketLog.warn('websocket closed', { code: SocketCloseCode.MessageTooBig, reason: `message over ${limits.maxMessageBytes} bytes` });
    } else {
      socketLog.warn('websocket error', { error, wsCode: error.code });
    }
    if (this.readyState === this.OPEN) this.close(SocketCloseCode.InternalServerError, 'Internal server error');
  }

  function onSocketMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[]): void {
    const handle = bindings.get(this)?.handle;
    if (handle === undefined) return;
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    handle(text).catch((error: unknown) => {
      socketLog.warn('websocket message failed', { error });
      closeSocket(this, SocketCloseCode.InternalServerError, 'Internal server error');
    });
  }

  function onSocketPong(this: WebSocket): void {
    const binding = bindings.get(this);
    if (binding) binding.awaitingPong = false;
  }

  function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
    const binding = bindings.get(this);
    if (binding === undefined) return;
    bindings.delete(this);
    heartbeat.delete(binding);
    if (binding.slowTimer) clearTimeout(binding.slowTimer);
    const identity = binding.identity;
    if (identity !== undefined) {
      expiries.delete(binding, identity.expiresAt.getTime());
      const userSockets = socketsByUser.get(identity.viewer.userId);
      userSockets?.delete(this);
      if (userSockets?.size === 0) socketsByUser.delete(identity.viewer.userId);
    }
    binding.closed?.(code, reason.toString()).catch((error: unknown) => socketLog.warn('websocket close failed', { error }));
  }

  wsServer.on('connection', (socket) => {
    const binding = new SocketBinding(socket);
    bindings.set(socket, binding);
    socket.on('error', onSocketError);
    socket.on('message', onSocketMessage);
    socket.on('pong', onSocketPong);
    socket.on('close', onSocketClose);
    heartbeat.add(binding);
    binding.closed = protocol.opened(binding, binding);
  });

  return {
    wsServer,
    get socketCount() {
      return wsServer.clients.size;
    },
    closeAll: (code, reason) => {
      for (const socket of wsServer.clients) socket.close(code, reason);
    },
    terminateAll: () => {
      for (const socket of wsServer.clients) socket.terminate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        heartbeat.stop();
        expiries.stop();
        wsServer.close(() => resolve());
      }),
  };
}
