/**
 * `npm start`: resolves the database (DATABASE_URL, or an embedded PostgreSQL), applies pending
 * migrations, serves GraphQL, runs a dispatcher in the same process (unless DISPATCHER=false),
 * and shuts down cleanly on SIGTERM/SIGINT.
 */
import { boot, exitOnStartupError, onShutdownSignal, startWhenPossible } from '../boot.js';
import { log } from '../logger.js';
import { assembleServer } from './assemble.js';

async function main(): Promise<void> {
  const runtime = await boot();
  const { config } = runtime;
  const app = await assembleServer(runtime);
  const address = await app.server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });
  // Serving first: /health and /ready answer while the database is still unreachable or unmigrated.
  const background = startWhenPossible([app.events, ...(app.dispatcher ? [app.dispatcher] : [])]);

  onShutdownSignal(async () => {
    background.cancel();
    await app.stop();
  });
}

main().catch(exitOnStartupError);
