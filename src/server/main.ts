/**
 * `npm start`: resolves the database (DATABASE_URL, or an embedded PostgreSQL), applies pending
 * migrations, serves GraphQL, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { createTokenVerifier } from '../auth/tokens.js';
import { ConfigError, loadConfig } from '../config.js';
import { createPrismaClient } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { migrate, readMigrations } from '../db/migrate.js';
import { log } from '../logger.js';
import { createTicklerServer } from './app.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase(config);
  if (config.migrateOnStart) {
    const result = await migrate(database.url);
    log.info('migrations', { applied: result.applied, alreadyApplied: result.alreadyApplied.length });
  }
  const db = createPrismaClient(database.url);
  const server = createTicklerServer({
    db,
    verifyToken: createTokenVerifier(config.jwt),
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: config.graphiql,
  });
  const address = await server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await server.close(config.shutdownGraceSeconds * 1000);
    await db.$disconnect();
    await database.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    log.error(`configuration error: ${error.message}`);
  } else {
    log.error('Tickler failed to start', { error, cause: error instanceof Error ? error.cause : undefined });
  }
  process.exit(1);
});
