/**
 * `npm run worker`: a dispatcher on its own, without the API, so dispatch scales apart from it.
 * Any number of these (and of API servers with their own dispatcher) can share one database.
 * Started before its database is up, it waits for it (src/boot.ts prepareDatabase).
 */
import { boot, createDispatcher, exitOnStartupError, onShutdownSignal, prepareDatabase, shutdownRuntime, startWhenPossible } from '../boot.js';
import { log } from '../logger.js';

async function main(): Promise<void> {
  const runtime = await boot();
  const dispatcher = createDispatcher(runtime);
  let cancelled = false;
  let background: { cancel: () => void } | undefined;
  onShutdownSignal(async () => {
    cancelled = true;
    background?.cancel();
    await dispatcher.stop(runtime.config.shutdownGraceSeconds * 1000);
    await shutdownRuntime(runtime);
  });
  if (!(await prepareDatabase(runtime, { cancelled: () => cancelled }))) return;
  background = startWhenPossible([dispatcher], () => log.info('Tickler worker is running', { dispatcher: dispatcher.id }));
}

main().catch(exitOnStartupError);
