/**
 * `npm run worker` (`node dist/dispatcher/main.js`): a dispatcher on its own, without the API, so
 * dispatch scales apart from it. Any number of these (and of API servers with their own dispatcher)
 * can share one database.
 */
import { boot, createDispatcher, Lifecycle } from '../boot.js';
import { log } from '../logger.js';

Lifecycle.run(async (lifecycle) => {
  const runtime = await boot(lifecycle);
  const dispatcher = createDispatcher(runtime);
  lifecycle.onStop(() => dispatcher.stop(runtime.config.shutdownGraceSeconds * 1000));
  lifecycle.throwIfStopping();
  await dispatcher.start();
  log.info('Tickler worker is running', { dispatcher: dispatcher.id });
});
