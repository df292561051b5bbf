/**
 * `npm start` (`node dist/server/main.js`): resolves the database (DATABASE_URL, or an embedded
 * PostgreSQL), serves GraphQL at once, then waits for the database, applies pending migrations, and
 * starts the event hub and a dispatcher (on a thread of its own, unless DISPATCHER=false), and the
 * retention job. Shuts down cleanly on SIGTERM/SIGINT, even one that arrives during start-up; a
 * start that fails (a port in use, say) stops what it had started and exits 1.
 *
 * Only the lifecycle is imported up front, so signals are handled from the first line; the rest of
 * Tickler (GraphQL schema, Prisma, ...) loads after.
 */
import { loadConfig } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { log } from '../logger.js';

Lifecycle.run(async (lifecycle) => {
  log.info('Tickler is starting', { pid: process.pid });
  // A configuration error is reported before the rest of Tickler is loaded.
  loadConfig();
  const { boot, prepareDatabase, startWhenPossible } = await import('../boot.js');
  const { assembleServer } = await import('./assemble.js');
  const { RetentionJob } = await import('../maintenance/retention.js');
  lifecycle.throwIfStopping();
  const runtime = await boot(lifecycle);
  const { config } = runtime;
  const app = await assembleServer(runtime);
  lifecycle.throwIfStopping();
  // Registered before listen: closing a server that never listened is harmless, and the hub and
  // dispatcher are stopped even if listening fails.
  lifecycle.onStop(() => app.stopServing());
  const giveUp = (error: unknown) => {
    log.error('could not migrate the database; serving without live events or a dispatcher', { error });
    return false;
  };
  // A database that answers at once is migrated before serving, so "listening" means usable. One
  // that does not is waited for while serving: /health and /ready answer meanwhile.
  const preparedAtOnce = await prepareDatabase(runtime, { maxTries: 1 }).catch(giveUp);
  lifecycle.throwIfStopping();
  const address = await app.server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });
  lifecycle.throwIfStopping();
  const prepared = preparedAtOnce || (await prepareDatabase(runtime, { cancelled: () => lifecycle.stopping }).catch(giveUp));
  if (!prepared) return;
  const background = startWhenPossible([app.events, ...(app.dispatcher ? [app.dispatcher] : [])], () =>
    log.info('Tickler is ready', { dispatcher: app.dispatcher?.id ?? null }),
  );
  lifecycle.onStop(() => background.cancel());
  const retention = new RetentionJob(runtime.database.url, config.retention);
  retention.start();
  lifecycle.onStop(() => retention.stop());
});
