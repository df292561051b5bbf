/**
 * Tickler's HTTP and WebSocket front door: GraphQL over HTTP (Yoga) and over graphql-ws on the
 * same server and path, plus /health and /ready. Knows nothing of the domain beyond handing each
 * operation a context with the database and the verified viewer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { AuthenticationError, bearerToken, type TokenVerifier } from '../auth/tokens.js';
import type { Database } from '../db/client.js';
import { viewerForSubject } from '../domain/users.js';
import type { Viewer } from '../domain/types.js';
import type { EventHub } from '../events/hub.js';
import type { AddressPolicy } from '../notifiers/address-guard.js';
import type { Context } from '../graphql/context.js';
import { costLimitRule } from '../graphql/limits.js';
import { schema } from '../graphql/schema.js';
import { log } from '../logger.js';
import { checkReadiness } from './readiness.js';

export interface TicklerServerOptions {
  db: Database;
  events: EventHub;
  webhookPolicy: AddressPolicy;
  verifyToken: TokenVerifier;
  /** Names of the migrations this build expects; /ready reports not ready until all are applied. */
  migrationNames: readonly string[];
  graphiql: boolean;
}

export interface TicklerServer {
  httpServer: http.Server;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes every socket. */
  close(graceMs: number): Promise<void>;
}

/** A request body larger than this is refused before it is read. */
const MAX_BODY_BYTES = 1024 * 1024;
/** A graphql-ws message larger than this closes the socket. */
const MAX_WS_MESSAGE_BYTES = 64 * 1024;

/** Extra context a WebSocket operation carries: the viewer verified once when the socket opened. */
interface SocketContext {
  socketViewer?: Viewer;
}

const costLimitPlugin: Plugin = {
  onValidate: ({ addValidationRule }) => addValidationRule(costLimitRule),
};

function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

export function createTicklerServer(options: TicklerServerOptions): TicklerServer {
  const { db, events, webhookPolicy, verifyToken } = options;

  async function viewerFromToken(token: string): Promise<Viewer> {
    const verified = await verifyToken(token);
    return viewerForSubject(db, verified.subject, verified.email, verified.zoneinfo);
  }

  const yoga = createYoga<SocketContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: options.graphiql ? { title: 'Tickler' } : false,
    landingPage: false,
    // Internal errors reach clients as "Unexpected error."; only GraphQLErrors and typed domain errors pass.
    maskedErrors: true,
    logging: {
      debug: (...args) => log.debug('yoga', { detail: args.map(String).join(' ') }),
      info: (...args) => log.info('yoga', { detail: args.map(String).join(' ') }),
      warn: (...args) => log.warn('yoga', { detail: args.map(String).join(' ') }),
      error: (...args) => log.error('yoga', { detail: args.map(String).join(' ') }),
    },
    plugins: [costLimitPlugin],
    context: async (initial: YogaInitialContext & SocketContext): Promise<Context> => {
      if (initial.socketViewer) return { db, events, webhookPolicy, viewer: initial.socketViewer };
      try {
        const token = bearerToken(initial.request.headers.get('authorization'));
        return { db, events, webhookPolicy, viewer: token === undefined ? null : await viewerFromToken(token) };
      } catch (error) {
        if (error instanceof AuthenticationError) throw unauthenticated(error.message);
        throw error;
      }
    },
  });

  let closing = false;
  const openResponses = new Set<http.ServerResponse>();
  const httpServer = http.createServer((request, response) => {
    openResponses.add(response);
    response.on('close', () => openResponses.delete(response));
    if (closing) response.shouldKeepAlive = false;
    const pathname = (request.url ?? '/').split('?')[0];
    if (pathname === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (pathname === '/ready') {
      void checkReadiness(db, options.migrationNames).then((readiness) => {
        response.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(readiness));
      });
      return;
    }
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > MAX_BODY_BYTES) {
      response.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      response.end(JSON.stringify({ errors: [{ message: `request body is larger than ${MAX_BODY_BYTES} bytes` }] }));
      request.resume();
      return;
    }
    if (request.method === 'POST' && request.headers['content-length'] === undefined) {
      response.writeHead(411, { 'content-type': 'application/json', connection: 'close' });
      response.end(JSON.stringify({ errors: [{ message: 'a POST needs a Content-Length header' }] }));
      request.resume();
      return;
    }
    void yoga(request, response);
  });

  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint, maxPayload: MAX_WS_MESSAGE_BYTES });
  // The enveloped executors (with Yoga's error masking and limits) of each WebSocket operation, by context.
  const executors = new WeakMap<object, { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown }>();
  function executorsFor(args: ExecutionArgs) {
    const found = typeof args.contextValue === 'object' && args.contextValue !== null ? executors.get(args.contextValue) : undefined;
    if (!found) throw new Error('operation was not prepared by onSubscribe');
    return found;
  }

  useServer<Record<string, unknown> | undefined, { viewer?: Viewer }>(
    {
      // A socket proves who it is once, in connection_init: { authorization: "Bearer <token>" } (or { token }).
      // Returning false closes it with 4403 Forbidden.
      onConnect: async (context) => {
        const params = context.connectionParams ?? {};
        const raw = typeof params.authorization === 'string' ? params.authorization : typeof params.token === 'string' ? `Bearer ${params.token}` : undefined;
        try {
          const token = bearerToken(raw);
          if (token === undefined) return false;
          context.extra.viewer = await viewerFromToken(token);
          return true;
        } catch (error) {
          if (!(error instanceof AuthenticationError)) log.error('websocket authentication failed', { error });
          return false;
        }
      },
      onSubscribe: async (context, _id, payload) => {
        const headers = new Headers();
        const enveloped = yoga.getEnveloped({
          // POST: Yoga refuses mutations on GET requests, and a socket operation may be a mutation.
          request: new Request('http://websocket/graphql', { method: 'POST', headers }),
          params: payload,
          socketViewer: context.extra.viewer,
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
        if (errors.length > 0) return errors;
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
      execute: (args) => executorsFor(args).execute(args) as ReturnType<NonNullable<Parameters<typeof useServer>[0]['execute']>>,
      subscribe: (args) => executorsFor(args).subscribe(args) as ReturnType<NonNullable<Parameters<typeof useServer>[0]['subscribe']>>,
    },
    wsServer,
  );

  return {
    httpServer,
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
      for (const socket of wsServer.clients) socket.close(1001, 'server shutting down');
      const timer = setTimeout(() => {
        log.warn('shutdown grace period over; closing remaining connections');
        httpServer.closeAllConnections();
        for (const socket of wsServer.clients) socket.terminate();
      }, graceMs);
      await closed;
      clearTimeout(timer);
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
