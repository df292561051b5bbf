/**
 * `npm start`: resolves the database (DATABASE_URL, or an embedded PostgreSQL), serves GraphQL at
 * once, then waits for the database, applies pending migrations, and starts the event hub and a
 * dispatcher in the same process (unless DISPATCHER=false); shuts down cleanly on SIGTERM/SIGINT.
 */
import { boot, exitOnStartupError, onShutdownSignal, prepareDatabase, startWhenPossible } from '../boot.js';
import { log } from '../logger.js';
import { assembleServer } from './assemble.js';

async function main(): Promise<void> {
  const runtime = await boot();
  const { config } = runtime;
  const app = await assembleServer(runtime);
  let cancelled = false;
  let background: { cancel: () => void } | undefined;
  const giveUp = (error: unknown) => {
    log.error('could not migrate the database; serving without live events or a dispatcher', { error });
    return false;
  };
  // A database that answers at once is migrated before serving, so "listening" means usable. One
  // that does not is waited for while serving: /health and /ready answer meanwhile.
  const preparedAtOnce = await prepareDatabase(runtime, { maxTries: 1 }).catch(giveUp);
  const address = await app.server.listen(config.port, config.host);
  log.info('Tickler is listening', { url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${address.port}/graphql` });
  onShutdownSignal(async () => {
    cancelled = true;
    background?.cancel();
    await app.stop();
  });
  const prepared = preparedAtOnce || (await prepareDatabase(runtime, { cancelled: () => cancelled }).catch(giveUp));
  if (!prepared) return;
  background = startWhenPossible([app.events, ...(app.dispatcher ? [app.dispatcher] : [])], () =>
    log.info('Tickler is ready', { dispatcher: app.dispatcher?.id ?? null }),
  );
}

main().catch(exitOnStartupError);
