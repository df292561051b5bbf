/**
 * `npm run worker` (`node dist/dispatcher/main.js`): a dispatcher on its own, without the API, so
 * dispatch scales apart from it, plus the retention job. Any number of these (and of API servers
 * with their own dispatcher) can share one database. Started before its database is up, it waits for
 * it (src/boot.ts prepareDatabase). Signals are handled from the first line (see src/server/main.ts).
 */
import { loadConfig } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { log } from '../logger.js';

Lifecycle.run(async (lifecycle) => {
  log.info('Tickler worker is starting', { pid: process.pid });
  // A configuration error is reported before the rest of Tickler is loaded.
  loadConfig();
  const { boot, createDispatcher, prepareDatabase, startWhenPossible } = await import('../boot.js');
  const { RetentionJob } = await import('../maintenance/retention.js');
  lifecycle.throwIfStopping();
  const runtime = await boot(lifecycle);
  const dispatcher = createDispatcher(runtime);
  lifecycle.onStop(() => dispatcher.stop(runtime.config.shutdownGraceSeconds * 1000));
  if (!(await prepareDatabase(runtime, { cancelled: () => lifecycle.stopping }))) return;
  const background = startWhenPossible([dispatcher], () => log.info('Tickler worker is running', { dispatcher: dispatcher.id }));
  lifecycle.onStop(() => background.cancel());
  const retention = new RetentionJob(runtime.database.url, runtime.config.retention);
  retention.start();
  lifecycle.onStop(() => retention.stop());
});
