/**
 * `npm run worker` (`node dist/dispatcher/main.js`): a dispatcher on its own, without the API, so
 * dispatch scales apart from it. Any number of these (and of API servers with their own dispatcher)
 * can share one database. Signals are handled from the first line (see src/server/main.ts).
 */
import { loadConfig } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { log } from '../logger.js';

Lifecycle.run(async (lifecycle) => {
  log.info('Tickler worker is starting', { pid: process.pid });
  // A configuration error is reported before the rest of Tickler is loaded.
  loadConfig();
  const { boot, createDispatcher } = await import('../boot.js');
  lifecycle.throwIfStopping();
  const runtime = await boot(lifecycle);
  const dispatcher = createDispatcher(runtime);
  lifecycle.onStop(() => dispatcher.stop(runtime.config.shutdownGraceSeconds * 1000));
  lifecycle.throwIfStopping();
  await dispatcher.start();
  log.info('Tickler worker is running', { dispatcher: dispatcher.id });
  const { RetentionJob } = await import('../maintenance/retention.js');
  const retention = new RetentionJob(runtime.database.url, runtime.config.retention);
  retention.start();
  lifecycle.onStop(() => retention.stop());
});
