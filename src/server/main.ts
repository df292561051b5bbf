/**
 * `npm start` (`node dist/server/main.js`): resolves the database (DATABASE_URL, or an embedded
 * PostgreSQL), applies pending migrations, serves GraphQL, runs a dispatcher in the same process
 * (unless DISPATCHER=false), and shuts down cleanly on SIGTERM/SIGINT, even one that arrives during
 * start-up. A start that fails (a port in use, say) stops what it had started and exits 1.
 */
import { boot, Lifecycle, startWhenPossible } from '../boot.js';
import { log } from '../logger.js';
import { assembleServer } from './assemble.js';

Lifecycle.run(async (lifecycle) => {
  const runtime = await boot(lifecycle);
  const { config } = runtime;
  const app = await assembleServer(runtime);
  lifecycle.throwIfStopping();
  // Registered before listen: closing a server that never listened is harmless, and the hub and
  // dispatcher are stopped even if listening fails.
  lifecycle.onStop(() => app.stopServing());
  const address = await app.server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });
  lifecycle.throwIfStopping();
  // Serving first: /health and /ready answer while the database is still unreachable or unmigrated.
  const background = startWhenPossible([app.events, ...(app.dispatcher ? [app.dispatcher] : [])]);
  lifecycle.onStop(async () => background.cancel());
});
