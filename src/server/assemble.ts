/**
 * The pieces `npm start` runs in one process, put together once: the HTTP + graphql-ws server and the
 * event hub behind subscriptions on the main thread, a dispatcher on a thread of its own (unless
 * DISPATCHER=false; src/dispatcher/dispatcher-thread.ts says why), and the order they stop in.
 * Used by src/server/main.ts and by the benchmark's server fixture, so both run the same thing.
 */
import { createTokenVerifier } from '../auth/tokens.js';
import { shutdownRuntime, type Runtime } from '../boot.js';
import { DatabaseClock } from '../db/clock.js';
import { readMigrations } from '../db/migrate.js';
import { DispatcherThread } from '../dispatcher/dispatcher-thread.js';
import { EventHub } from '../events/hub.js';
import { createTicklerServer, type TicklerServer } from './app.js';

export interface AssembledServer {
  server: TicklerServer;
  events: EventHub;
  /** The dispatcher, on its own thread; undefined with DISPATCHER=false. */
  dispatcher: DispatcherThread | undefined;
  /** Stops serving (draining requests), then the dispatcher and the hub; the runtime stays open. */
  stopServing(): Promise<void>;
  /** stopServing(), then closes the runtime (pool, listener, notifiers, embedded PostgreSQL). */
  stop(): Promise<void>;
}

export async function assembleServer(runtime: Runtime): Promise<AssembledServer> {
  const { config, db, dispatchDb, listener } = runtime;
  // On a pool apart from the API's: live events keep flowing while the API's pool is saturated.
  const events = new EventHub(dispatchDb, listener);
  // Its own thread, pool and LISTEN connection: request processing cannot delay firing.
  const dispatcher = config.dispatcher.enabled ? new DispatcherThread({ config, databaseUrl: runtime.database.url }) : undefined;
  // Tokens' exp is judged by the database's clock, like every other "is it past?" (db/clock.ts).
  const clock = new DatabaseClock(db);
  clock.start();
  const server = createTicklerServer({
    db,
    events,
    webhookPolicy: config.webhooks,
    verifyToken: createTokenVerifier(config.jwt, async () => {
      await clock.ready();
      return clock.now();
    }),
    clock,
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: config.graphiql,
    limits: config.limits,
    graphqlPolicy: config.graphql,
    dashboard: {
      devTokens: config.devTokens && config.jwt.secret !== undefined
        ? { secret: config.jwt.secret, issuer: config.jwt.issuer, audience: config.jwt.audience }
        : undefined,
    },
  });
  const graceMs = config.shutdownGraceSeconds * 1000;
  const stopServing = async () => {
    await server.close(graceMs);
    await dispatcher?.stop(graceMs);
    await events.stop();
    clock.stop();
  };
  return {
    server,
    events,
    dispatcher,
    stopServing,
    stop: async () => {
      await stopServing();
      await shutdownRuntime(runtime);
    },
  };
}
