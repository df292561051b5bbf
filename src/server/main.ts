/**
 * `npm start`: resolves the database (DATABASE_URL, or an embedded PostgreSQL), applies pending
 * migrations, serves GraphQL, runs a dispatcher in the same process (unless DISPATCHER=false),
 * and shuts down cleanly on SIGTERM/SIGINT.
 */
import { createTokenVerifier } from '../auth/tokens.js';
import { boot, createDispatcher, exitOnStartupError, onShutdownSignal, shutdownRuntime, startWhenPossible } from '../boot.js';
import { readMigrations } from '../db/migrate.js';
import { EventHub } from '../events/hub.js';
import { log } from '../logger.js';
import { createTicklerServer } from './app.js';

async function main(): Promise<void> {
  const runtime = await boot();
  const { config, db, listener } = runtime;
  const events = new EventHub(db, listener);
  const dispatcher = config.dispatcher.enabled ? createDispatcher(runtime) : undefined;
  const server = createTicklerServer({
    db,
    events,
    webhookPolicy: config.webhooks,
    verifyToken: createTokenVerifier(config.jwt),
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: config.graphiql,
  });
  const address = await server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });
  // Serving first: /health and /ready answer while the database is still unreachable or unmigrated.
  const background = startWhenPossible([events, ...(dispatcher ? [dispatcher] : [])]);

  onShutdownSignal(async () => {
    background.cancel();
    await server.close(config.shutdownGraceSeconds * 1000);
    await dispatcher?.stop(config.shutdownGraceSeconds * 1000);
    await events.stop();
    await shutdownRuntime(runtime);
  });
}

main().catch(exitOnStartupError);
