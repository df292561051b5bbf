/**
 * Tickler's HTTP and WebSocket front door: GraphQL over HTTP (Yoga; subscriptions as server-sent
 * events, sse.ts) and over graphql-ws (websocket.ts) on the same server and path, plus /health and /ready. Knows nothing of the domain beyond handing each
 * operation a context with the database and the verified viewer.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { AuthenticationError, bearerToken, type TokenVerifier } from '../auth/tokens.js';
import { DEFAULT_LIMITS, type LimitsConfig } from '../config.js';
import type { Database } from '../db/client.js';
import type { Clock } from '../db/clock.js';
import type { DomainPolicy } from '../domain/policy.js';
import { viewerForSubject } from '../domain/users.js';
import type { Viewer } from '../domain/types.js';
import type { EventHub } from '../events/hub.js';
import type { AddressPolicy } from '../notifiers/address-guard.js';
import type { Context } from '../graphql/context.js';
import { validationCachePlugin } from '../graphql/validation-cache.js';
import { queryLimitPlugins, type GraphQLPolicy } from '../graphql/limits.js';
import { schema } from '../graphql/schema.js';
import { log, withLogContext } from '../logger.js';
import { graphqlMetricsPlugin } from '../metrics/graphql.js';
import { metrics, scrape } from '../metrics/registry.js';
import { mutationRateLimit } from './rate-limit.js';
import { createDashboardRoutes, type DashboardOptions } from '../web/routes.js';
import { checkReadiness } from './readiness.js';
import { EventStreams, type StreamIdentity } from './sse.js';
import { attachGraphQLWebSocket, type SocketContext, type SocketIdentity } from './websocket.js';

export interface TicklerServerOptions {
  db: Database;
  events: EventHub;
  webhookPolicy: AddressPolicy;
  verifyToken: TokenVerifier;
  /** Names of the migrations this build expects; /ready reports not ready until all are applied. */
  migrationNames: readonly string[];
  graphiql: boolean;
  /** Quotas, rate limits, socket caps and lock-wait bounds; DEFAULT_LIMITS where omitted. */
  limits?: Partial<LimitsConfig>;
  /** Introspection and "Did you mean" hints; both on when left out (tests, development). */
  graphqlPolicy?: GraphQLPolicy;
  /** The dashboard at `/` (src/web); without options it is served with development sign-in off. */
  dashboard?: DashboardOptions;
  /** The clock sockets' token expiry is judged by; give the one `verifyToken` uses. Default: the host's. */
  clock?: Clock;
}

export interface TicklerServer {
  httpServer: http.Server;
  /** Open graphql-ws sockets on this instance. */
  readonly webSocketCount: number;
  /** Open subscription streams over server-sent events on this instance, of one user or of all. */
  eventStreamCount(userId?: string): number;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes every socket. */
  close(graceMs: number): Promise<void>;
}

/** A request body larger than this is refused with 413 (its bytes never reach GraphQL). */
const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A refused body is still read, and discarded, up to this many bytes before the answer goes out:
 * a client still sending when the server closes the connection sees EPIPE or ECONNRESET rather
 * than the 413 (Node's fetch does, 1-2 times in 10, for 2 MiB). Beyond this, the connection is
 * closed after the answer, whatever the client sees.
 */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;
/** A graphql-ws message larger than this closes the socket. */
const MAX_WS_MESSAGE_BYTES = 64 * 1024;

/**
 * Answers `status` to a request whose body will not be used. Unless the client is waiting for
 * `100 Continue` (then it has not sent the body, RFC 9110 §10.1.1), the answer goes out once the
 * body has been read, so the client is reading when it arrives.
 */
function refuseBody(request: http.IncomingMessage, response: http.ServerResponse, status: number, message: string, bodyExpected: boolean): void {
  const answer = () => {
    if (response.headersSent) return;
    response.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    response.end(JSON.stringify({ errors: [{ message, extensions: { code: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'LENGTH_REQUIRED' } }] }));
  };
  let drained = 0;
  request.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAIN_BYTES) {
      answer();
      request.destroy();
    }
  });
  request.on('end', answer);
  // A client that gives up mid-body is no error of ours.
  request.on('error', () => undefined);
  if (!bodyExpected) answer();
}

function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

export function createTicklerServer(options: TicklerServerOptions): TicklerServer {
  const { db, events, webhookPolicy, verifyToken } = options;
  const limits: LimitsConfig = { ...DEFAULT_LIMITS, ...options.limits };
  const policy: DomainPolicy = {
    maxActiveTasksPerUser: limits.maxActiveTasksPerUser,
    transactions: { lockTimeoutMs: limits.lockTimeoutMs, maxWaitMs: limits.transactionMaxWaitMs, timeoutMs: limits.transactionTimeoutMs },
  };

  /** One path from a token to its viewer, for HTTP requests and graphql-ws sockets alike. */
  async function identityFromToken(token: string): Promise<SocketIdentity> {
    const verified = await verifyToken(token);
    return { viewer: await viewerForSubject(db, verified.subject, verified.email, verified.zoneinfo), expiresAt: verified.expiresAt };
  }

  async function viewerFromToken(token: string): Promise<Viewer> {
    return (await identityFromToken(token)).viewer;
  }

  const rateLimit = mutationRateLimit(db, limits.mutationsPerMinute);
  const now = options.clock ? () => options.clock!.now() : Date.now;
  // The identity each HTTP request's token was verified as: the event-stream policy needs its user and expiry.
  const requestIdentities = new WeakMap<Request, StreamIdentity>();
  // One policy, two transports: the per-user cap and the send-buffer bound are graphql-ws's settings.
  const streams = new EventStreams({
    limits: { streamsPerUser: limits.socketsPerUser, bufferedBytes: limits.socketBufferedBytes },
    identityOf: (request) => requestIdentities.get(request),
    now,
  });
  const yoga = createYoga<SocketContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: options.graphiql ? { title: 'Tickler' } : false,
    // GraphiQL's scripts and styles come bundled in @graphql-yoga/render-graphiql, not from a CDN: it works offline.
    renderGraphiQL,
    landingPage: false,
    // Internal errors reach clients as "Unexpected error."; only GraphQLErrors and typed domain errors pass.
    maskedErrors: true,
    logging: {
      debug: (...args) => log.debug('yoga', { detail: args.map(String).join(' ') }),
      info: (...args) => log.info('yoga', { detail: args.map(String).join(' ') }),
      warn: (...args) => log.warn('yoga', { detail: args.map(String).join(' ') }),
      error: (...args) => log.error('yoga', { detail: args.map(String).join(' ') }),
    },
    // Cost, shape and introspection limits, enforced at parse and validation, before `context` (the token) runs.
    plugins: [
      ...queryLimitPlugins(options.graphqlPolicy ?? { introspection: true, suggestions: true }),
      graphqlMetricsPlugin(),
      ...(rateLimit ? [rateLimit] : []),
      streams.plugin,
      // Yoga's validation cache stays off (below); this one keys by variables too (issue 10).
      validationCachePlugin(),
    ],
    // A query's cost depends on its variables (`first: $n`): validation results must not be reused by query text.
    parserAndValidationCache: { validationCache: false },
    context: async (initial: YogaInitialContext & SocketContext): Promise<Context> => {
      if (initial.socketViewer) return { db, events, webhookPolicy, policy, viewer: initial.socketViewer };
      try {
        const token = bearerToken(initial.request.headers.get('authorization'));
        if (token === undefined) return { db, events, webhookPolicy, policy, viewer: null };
        const identity = await identityFromToken(token);
        requestIdentities.set(initial.request, { userId: identity.viewer.userId, expiresAt: identity.expiresAt });
        return { db, events, webhookPolicy, policy, viewer: identity.viewer };
      } catch (error) {
        if (error instanceof AuthenticationError) throw unauthenticated(error.message);
        throw error;
      }
    },
  });

  const dashboard = createDashboardRoutes(options.dashboard ?? { devTokens: undefined });

  let closing = false;
  const openResponses = new Set<http.ServerResponse>();
  function handle(request: http.IncomingMessage, response: http.ServerResponse, waitingForContinue: boolean): void {
    openResponses.add(response);
    response.on('close', () => openResponses.delete(response));
    if (closing) response.shouldKeepAlive = false;
    const pathname = (request.url ?? '/').split('?')[0];
    if (pathname === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (pathname === '/metrics') {
      void scrape().then(({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body));
      return;
    }
    if (pathname === '/ready') {
      void checkReadiness(db, options.migrationNames).then((readiness) => {
        response.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(readiness));
      });
      return;
    }
    if (dashboard(request, response)) return;
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > MAX_BODY_BYTES) {
      refuseBody(request, response, 413, `request body is larger than ${MAX_BODY_BYTES} bytes`, !waitingForContinue);
      return;
    }
    if (request.method === 'POST' && request.headers['content-length'] === undefined) {
      refuseBody(request, response, 411, 'a POST needs a Content-Length header', !waitingForContinue);
      return;
    }
    if (waitingForContinue) response.writeContinue();
    if ((request.headers.accept ?? '').includes('text/event-stream')) void serveEventStream(request, response);
    else void yoga(request, response);
  }

  /**
   * A request that accepts server-sent events: Yoga answers it, and sse.ts writes the answer, so
   * a client that stops reading is cut off at the send-buffer bound instead of stalling.
   */
  async function serveEventStream(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    try {
      const answer = await yoga.handleNodeRequestAndResponse(request, response);
      if (response.destroyed) return;
      answer.headers.forEach((value, name) => response.setHeader(name, value));
      response.writeHead(answer.status);
      if (answer.body === null) response.end();
      else await streams.send(answer.body, response);
    } catch (error) {
      log.error('event stream request failed', { error });
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end();
    }
  }
  // One id per request, in the response and in every log line written while serving it.
  function withRequestId(request: http.IncomingMessage, response: http.ServerResponse, waitingForContinue: boolean): void {
    const requestId = requestIdFrom(request.headers['x-request-id']);
    response.setHeader('x-request-id', requestId);
    withLogContext({ requestId }, () => handle(request, response, waitingForContinue));
  }
  const httpServer = http.createServer((request, response) => withRequestId(request, response, false));
  // curl and others ask before sending a large body; an oversized one is refused before it is sent.
  httpServer.on('checkContinue', (request: http.IncomingMessage, response: http.ServerResponse) => withRequestId(request, response, true));

  const sockets = attachGraphQLWebSocket({
    httpServer,
    yoga,
    now,
    limits: {
      maxMessageBytes: MAX_WS_MESSAGE_BYTES,
      socketsPerUser: limits.socketsPerUser,
      subscriptionsPerSocket: limits.subscriptionsPerSocket,
      socketBufferedBytes: limits.socketBufferedBytes,
    },
    authenticate: async (params): Promise<SocketIdentity | null> => {
      const raw = typeof params.authorization === 'string' ? params.authorization : typeof params.token === 'string' ? `Bearer ${params.token}` : undefined;
      try {
        const token = bearerToken(raw);
        if (token === undefined) return null;
        return await identityFromToken(token);
      } catch (error) {
        if (error instanceof AuthenticationError) return null;
        throw error;
      }
    },
  });

  const untrackSockets = metrics.sockets.track(() => sockets.socketCount);
  const untrackSubscribers = metrics.subscribers.track(() => events.subscriptionCount());

  return {
    httpServer,
    get webSocketCount() {
      return sockets.socketCount;
    },
    eventStreamCount: (userId) => streams.count(userId),
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => resolve(httpServer.address() as AddressInfo));
      }),
    close: async (graceMs) => {
      closing = true;
      // Responses still being worked on close their connection when done, instead of idling in keep-alive.
      for (const response of openResponses) if (!response.headersSent) response.shouldKeepAlive = false;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      sockets.closeAll(1001, 'server shutting down');
      // Event streams end with SHUTTING_DOWN and complete; their connections then go idle and are closed
      // (the server's close() only closed the ones idle when it was called).
      for (const response of openResponses) response.once('finish', () => setImmediate(() => httpServer.closeIdleConnections()));
      streams.endAll();
      const timer = setTimeout(() => {
        log.warn('shutdown grace period over; closing remaining connections');
        httpServer.closeAllConnections();
        sockets.terminateAll();
      }, graceMs);
      await closed;
      clearTimeout(timer);
      await sockets.close();
      untrackSockets();
      untrackSubscribers();
    },
  };
}

/** A client's X-Request-ID when it is a plain token (so it cannot forge log structure), else a new UUID. */
function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{1,64}$/.test(header) ? header : randomUUID();
}
