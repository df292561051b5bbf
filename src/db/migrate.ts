/**
 * Applies the SQL migrations in prisma/migrations, in order, exactly as `prisma migrate deploy`
 * would: same `_prisma_migrations` table and rows, same sha256 checksum of each migration.sql,
 * same advisory lock. Prisma's own migrate needs a schema-engine binary that cannot be downloaded
 * everywhere Tickler runs; this keeps the two interchangeable, so a user who has the engine can run
 * `prisma migrate deploy` or `prisma migrate status` afterwards and find nothing pending.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');

/** The key Prisma's schema engine locks; sharing it means Tickler and Prisma never migrate at once. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 of the file's bytes, hex: what Prisma stores in `_prisma_migrations.checksum`. */
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends Error {}

export function checksumOf(contents: Buffer | string): string {
  return createHash('sha256').update(contents).digest('hex');
}

/**
 * Whether an applied checksum matches the file on disk. Like Prisma, a file whose only change is
 * its line endings (a Windows checkout with autocrlf) still matches.
 */
function sameChecksum(applied: string, migration: MigrationFile): boolean {
  if (applied === migration.checksum) return true;
  const lf = migration.sql.replace(/\r\n/g, '\n');
  return applied === checksumOf(lf) || applied === checksumOf(lf.replace(/\n/g, '\r\n'));
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name, 'migration.sql'));
      return { name, sql: bytes.toString('utf8'), checksum: checksumOf(bytes) };
    }),
  );
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Brings the database at `databaseUrl` up to date. Refuses, without changing anything, when a
 * migration failed earlier (as Prisma does, P3009) or when an applied migration's file was edited.
 */
export async function migrate(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  // A lost connection fails the statement in flight; unheard, its 'error' event would end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null);
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} failed earlier; fix the database, then mark it rolled back ` +
          `(prisma migrate resolve --rolled-back ${failed.migration_name}) before migrating again`,
      );
    }
    // A migration marked rolled back (`prisma migrate resolve --rolled-back`) is applied again, as Prisma does.
    const finished = new Map(
      rows
        .filter((row) => row.finished_at !== null && row.rolled_back_at === null)
        .map((row) => [row.migration_name, row.checksum]),
    );
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const migration of migrations) {
      const appliedChecksum = finished.get(migration.name);
      if (appliedChecksum !== undefined) {
        if (!sameChecksum(appliedChecksum, migration)) {
          throw new MigrationError(
            `migration ${migration.name} was edited after it was applied (checksum ${appliedChecksum} in the database, ${migration.checksum} on disk)`,
          );
        }
        result.alreadyApplied.push(migration.name);
        continue;
      }
      await applyOne(client, migration);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

/**
 * Runs one migration inside a transaction with its bookkeeping row, so a failure leaves no half-applied
 * schema. The failure itself is then recorded the way Prisma records it (finished_at NULL, logs set),
 * which stops later runs until someone looks.
 */
async function applyOne(client: pg.Client, migration: MigrationFile): Promise<void> {
  const id = randomUUID();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), 0)`,
      [id, migration.checksum, migration.name],
    );
    await client.query(migration.sql);
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    // If even the rollback fails the connection is gone; the original error is the one worth reporting.
    await client.query('ROLLBACK').catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    await client
      .query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, started_at, applied_steps_count)
         VALUES ($1, $2, $3, $4, now(), 0)`,
        [id, migration.checksum, migration.name, `${migration.name} failed: ${message}`],
      )
      .catch(() => undefined);
    throw new MigrationError(`migration ${migration.name} failed: ${message}`);
  }
}

/** Names of migrations on disk that the database has not finished applying; empty when up to date. */
export async function pendingMigrations(client: pg.ClientBase, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const exists = await client.query<{ present: boolean }>(
    `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`,
  );
  if (!exists.rows[0]?.present) return migrations.map((migration) => migration.name);
  const { rows } = await client.query<{ migration_name: string }>(
    'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
  );
  const done = new Set(rows.map((row) => row.migration_name));
  return migrations.filter((migration) => !done.has(migration.name)).map((migration) => migration.name);
}
