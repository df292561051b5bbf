/**
 * Gives the test run one freshly created, migrated database on a real PostgreSQL server: the
 * server at DATABASE_URL when it is set, otherwise an embedded PostgreSQL started here, so
 * `npm test` passes on a machine with nothing but Node. The database is dropped afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the migrated test database. */
    databaseUrl: string;
    /** URL of the server's `postgres` database, for tests that create scratch databases. */
    adminUrl: string;
  }
}

function withDatabase(url: string, name: string): string {
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Compiles src/ to dist/ (incrementally: a second run without changes takes about a second). Tests
 * that spawn Tickler run `node dist/...`, as production does: plain Node handles signals itself, and
 * starts faster than a TypeScript loader.
 */
async function build(): Promise<void> {
  try {
    await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT });
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    throw new Error(`the build (tsc -p tsconfig.build.json) failed:\n${stdout ?? String(error)}`);
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const built = build();
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tickler-test-pg-'));
    // mkdtemp makes the folder private; as root, PostgreSQL runs as the postgres user and must enter it.
    await chmod(dataDir, 0o755);
    const port = 55000 + Math.floor(Math.random() * 5000);
    embedded = await startEmbeddedPostgres({ dataDir, port, persistent: false });
    serverUrl = embedded.url;
  }
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const name = `tickler_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const databaseUrl = withDatabase(serverUrl, name);
  await migrate(databaseUrl);
  await built;
  project.provide('databaseUrl', databaseUrl);
  project.provide('adminUrl', adminUrl);

  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.end();
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
