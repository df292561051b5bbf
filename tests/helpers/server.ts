/**
 * Runs a real Tickler server (HTTP + graphql-ws) on a free port against the test database, and
 * talks to it the way clients do: over HTTP with bearer tokens, typed by codegen's client preset.
 */
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { afterAll, beforeAll } from 'vitest';
import { createTokenVerifier, signToken } from '../../src/auth/tokens.js';
import { DEVELOPMENT_JWT_SECRET, type LimitsConfig } from '../../src/config.js';
import { createPrismaClient, type Database } from '../../src/db/client.js';
import { PgListener } from '../../src/db/listener.js';
import { readMigrations } from '../../src/db/migrate.js';
import { EventHub } from '../../src/events/hub.js';
import { createTicklerServer, type TicklerServer } from '../../src/server/app.js';
import { testDatabaseUrl } from './database.js';

export const TEST_JWT_SECRET = DEVELOPMENT_JWT_SECRET;

export interface RunningServer {
  url: string;
  wsUrl: string;
  db: Database;
  listener: PgListener;
  events: EventHub;
  server: TicklerServer;
}

export interface Instance extends RunningServer {
  stop: () => Promise<void>;
}

/** One API instance as production runs it: its own pool, LISTEN connection and EventHub. */
export async function startInstance(
  databaseUrl: string,
  options: { poolSize?: number; limits?: Partial<LimitsConfig> } = {},
): Promise<Instance> {
  const db = createPrismaClient(databaseUrl, options);
  const listener = new PgListener(databaseUrl);
  const events = new EventHub(db, listener);
  await events.start();
  const server = createTicklerServer({
    db,
    events,
    // Tests run their webhook receivers on 127.0.0.1.
    webhookPolicy: { allowPrivate: false, allowLoopback: true },
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined }),
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: false,
    limits: options.limits,
  });
  const address = await server.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${address.port}/graphql`,
    wsUrl: `ws://127.0.0.1:${address.port}/graphql`,
    db,
    listener,
    events,
    server,
    stop: async () => {
      await server.close(1000);
      await events.stop();
      await listener.close();
      await db.$disconnect();
    },
  };
}

/** Starts a server on the test database before the file's tests and stops it after them. */
export function useServer(): RunningServer {
  const running = {} as Instance;
  beforeAll(async () => {
    Object.assign(running, await startInstance(testDatabaseUrl()));
  });
  afterAll(async () => {
    await running.stop?.();
  });
  return running;
}

export interface TestUser {
  subject: string;
  token: string;
}

/** A user no other test has seen: tests share one database but never each other's data. */
export async function newUser(name = 'user'): Promise<TestUser> {
  const subject = `${name}-${randomUUID()}`;
  return { subject, token: await signToken(TEST_JWT_SECRET, subject) };
}

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** Sends one operation over HTTP; `token` null sends no Authorization header. */
export async function execute<TResult, TVariables>(
  server: RunningServer,
  token: string | null,
  document: TypedDocumentNode<TResult, TVariables>,
  ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
): Promise<GraphQLResponse<TResult>> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<TResult>, 'status'>;
  return { status: response.status, ...body };
}

/** Runs an operation that must succeed without GraphQL errors and returns its data. */
export async function run<TResult, TVariables>(
  server: RunningServer,
  user: TestUser,
  document: TypedDocumentNode<TResult, TVariables>,
  ...variables: TVariables extends Record<string, never> ? [] : [TVariables]
): Promise<TResult> {
  const result = await execute(server, user.token, document, ...variables);
  if (result.errors?.length || !result.data) {
    throw new Error(`operation failed: ${JSON.stringify(result.errors ?? result)}`);
  }
  return result.data;
}

/** A time `seconds` from now, as the API takes it. */
export function inSeconds(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString();
}
