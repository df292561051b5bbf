/**
 * `npm run worker`: a dispatcher on its own, without the API, so dispatch scales apart from it.
 * Any number of these (and of API servers with their own dispatcher) can share one database.
 */
import { boot, createDispatcher, exitOnStartupError, onShutdownSignal, shutdownRuntime } from '../boot.js';
import { log } from '../logger.js';

async function main(): Promise<void> {
  const runtime = await boot();
  const dispatcher = createDispatcher(runtime);
  await dispatcher.start();
  log.info('Tickler worker is running', { dispatcher: dispatcher.id });
  onShutdownSignal(async () => {
    await dispatcher.stop(runtime.config.shutdownGraceSeconds * 1000);
    await shutdownRuntime(runtime);
  });
}

main().catch(exitOnStartupError);
