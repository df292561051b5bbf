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
import { log, withLogContext, type LogFields } from '../logger.js';

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

/**
 * At most `perWindow` lines of one kind per `windowMs`; the next line after a quiet window says
 * how many were left out. Keys are our own fixed strings, never client input.
 */
class LogThrottle {
  private readonly windows = new Map<string, { startedAt: number; written: number; suppressed: number }>();
  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 60_000,
  ) {}

  warn(key: string, fields: LogFields): void {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || now - window.startedAt >= this.windowMs) {
      const suppressed = window?.suppressed ?? 0;
      window = { startedAt: now, written: 0, suppressed: 0 };
      this.windows.set(key, window);
      if (suppressed > 0) fields = { ...fields, suppressedBefore: suppressed };
    }
    if (window.written >= this.perWindow) {
      window.suppressed += 1;
      return;
    }
    window.written += 1;
    log.warn(key, fields);
  }
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

export function attachGraphQLWebSocket(options: GraphQLWebSocketOptions): GraphQLWebSocketServer {
  const { yoga, limits, authenticate } = options;
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const now = options.now ?? Date.now;
  const throttle = new LogThrottle();
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
    throttle.warn('websocket closed', { code, reason, ...fields });
    socket.close(code, reason);
  }

  type ExecuteHook = NonNullable<ServerOptions<Record<string, unknown> | undefined, SocketExtra>['execute']>;
  type SubscribeHook = NonNullable<ServerOptions<Record<string, unknown> | undefined, SocketExtra>['subscribe']>;

  const protocol = makeServer<Record<string, unknown> | undefined, SocketExtra>({
    // Returning false closes with 4403 Forbidden. A socket over the per-user cap is closed 4029
    // here first (the later 4403 of graphql-ws is then ignored: the socket is already closing).
    onConnect: async (context) => {
      const socket = context.extra.socket;
      const identity = await authenticate(context.connectionParams ?? {});
      if (identity === null) {
        throttle.warn('websocket closed', { code: SocketCloseCode.Forbidden, reason: 'missing or invalid token' });
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
      socket.once('close', () => {
        userSockets.delete(socket);
        if (userSockets.size === 0 && socketsByUser.get(identity.viewer.userId) === userSockets) socketsByUser.delete(identity.viewer.userId);
      });
      context.extra.identity = identity;
      armExpiry(socket, identity.expiresAt);
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
      const enveloped = yoga.getEnveloped({
        // POST: Yoga refuses mutations on GET requests, and a socket operation may be a mutation.
        request: new Request('http://websocket/graphql', { method: 'POST', headers: new Headers() }),
        params: payload,
        socketViewer: identity.viewer,
      });
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

  /**
   * Closes the socket with 4403 when its token's `exp` passes (the graphql-ws #482 class of bug).
   * setTimeout takes at most MAX_TIMER_MS, so a later expiry is waited for in chunks; one 'close'
   * listener clears whichever chunk is pending. An expiry that is not a valid date closes at once.
   */
  function armExpiry(socket: WebSocket, expiresAt: Date): void {
    const expiry = expiresAt.getTime();
    let timer: NodeJS.Timeout | undefined;
    const wait = (): void => {
      const remaining = expiry - now();
      if (!Number.isFinite(remaining) || remaining <= 0) {
        closeSocket(socket, SocketCloseCode.Forbidden, 'token expired');
        return;
      }
      timer = setTimeout(wait, Math.min(remaining, MAX_TIMER_MS));
    };
    socket.once('close', () => clearTimeout(timer));
    // Checked on the next turn, as before: onConnect acknowledges the socket first.
    timer = setTimeout(wait, 0);
  }

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

  wsServer.on('connection', (socket) => {
    socket.on('error', (error: Error & { code?: string }) => {
      // ws has already chosen the close code (1009 for a frame over maxPayload, 1002 for a protocol
      // error) and started closing; we only record it.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        throttle.warn('websocket closed', { code: SocketCloseCode.MessageTooBig, reason: `message over ${limits.maxMessageBytes} bytes` });
      } else {
        throttle.warn('websocket error', { error, wsCode: error.code });
      }
      if (socket.readyState === socket.OPEN) socket.close(SocketCloseCode.InternalServerError, 'Internal server error');
    });

    let pongWait: NodeJS.Timeout | null = null;
    const pingTimer =
      keepAliveMs > 0
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN || pongWait) return;
            pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
            socket.once('pong', () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAliveMs)
        : null;

    let slowTimer: NodeJS.Timeout | null = null;
    function dropSlowConsumer(): void {
      closeSocket(socket, SocketCloseCode.TryAgainLater, `send buffer over ${limits.socketBufferedBytes} bytes: the client is not reading`, {
        bufferedBytes: socket.bufferedAmount,
      });
      // A client that does not read will never read the close frame either: free its buffer soon.
      slowTimer ??= setTimeout(() => socket.terminate(), 1000);
    }

    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            if (socket.bufferedAmount > limits.socketBufferedBytes) {
              dropSlowConsumer();
              return resolve();
            }
            // A failed write surfaces as the socket's 'error' and 'close'; the operation just ends.
            socket.send(data, () => resolve());
          }),
        close: (code, reason) => closeSocket(socket, code ?? 1000, reason ?? ''),
        onMessage: (handle) =>
          socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
            const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
            handle(text).catch((error: unknown) => {
              throttle.warn('websocket message failed', { error });
              closeSocket(socket, SocketCloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket },
    );

    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      if (pingTimer) clearInterval(pingTimer);
      if (slowTimer) clearTimeout(slowTimer);
      closed(code, reason.toString()).catch((error: unknown) => throttle.warn('websocket close failed', { error }));
    });
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
    close: () => new Promise<void>((resolve) => wsServer.close(() => resolve())),
  };
}
