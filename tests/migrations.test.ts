/**
 * src/db/migrate.ts stands in for `prisma migrate deploy`, so these tests hold it to Prisma's
 * contract: the same `_prisma_migrations` table and rows, the same checksums, the same advisory
 * lock, the same refusal after a failure. The last part checks that the migrated database is the
 * one prisma/schema.prisma describes, since the SQL migrations are written by hand.
 */
import { createHash } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, migrate } from '../src/db/migrate.js';
import { createScratchDatabase, testDatabaseUrl, withPgClient } from './helpers/database.js';
import { schemaDrift } from './helpers/schema-drift.js';

const SCHEMA_PATH = path.resolve(MIGRATIONS_DIR, '../schema.prisma');
const PRISMA_ADVISORY_LOCK_KEY = 72707369;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

/** Migration names read straight from disk, not through readMigrations, so the two can disagree. */
async function migrationNames(dir = MIGRATIONS_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}

/** What Prisma stores as the checksum: sha256 over the file's raw bytes, lowercase hex. */
async function sha256OfFile(dir: string, name: string): Promise<string> {
  return createHash('sha256').update(await readFile(path.join(dir, name, 'migration.sql'))).digest('hex');
}

async function migrationRows(url: string): Promise<MigrationRow[]> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<MigrationRow>('SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name');
    return rows;
  }, url);
}

async function tableExists(url: string, table: string): Promise<boolean> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [`"${table}"`]);
    return rows[0]?.present === true;
  }, url);
}

// Scratch databases and temporary migration folders made by a test, removed after it.
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratchDatabase(): Promise<string> {
  const scratch = await createScratchDatabase();
  cleanups.push(scratch.drop);
  return scratch.url;
}

/** A copy of the real migrations in os.tmpdir(), for tests that add or edit migration files. */
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tickler-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe('migrate', () => {
  it('applies every migration to an empty database and records it exactly as Prisma does', async () => {
    const url = await scratchDatabase();
    const names = await migrationNames();
    expect(names.length).toBeGreaterThan(0);

    const result = await migrate(url);
    expect(result).toEqual({ applied: names, alreadyApplied: [] });

    // The table must be Prisma's, column for column, or `prisma migrate status` would not read it.
    const columns = await withPgClient(async (client) => {
      const { rows } = await client.query(
        `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
           FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = '_prisma_migrations'
          ORDER BY ordinal_position`,
      );
      return rows;
    }, url);
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', character_maximum_length: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', character_maximum_length: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', character_maximum_length: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', character_maximum_length: null, is_nullable: 'NO', column_default: '0' },
    ]);
    const primaryKey = await withPgClient(async (client) => {
      const { rows } = await client.query<{ column_name: string }>(
        `SELECT a.attname AS column_name
           FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey)
          WHERE x.indrelid = '"_prisma_migrations"'::regclass AND x.indisprimary`,
      );
      return rows.map((row) => row.column_name);
    }, url);
    expect(primaryKey).toEqual(['id']);

    const rows = await migrationRows(url);
    expect(rows.map((row) => row.migration_name)).toEqual(names);
    for (const row of rows) {
      expect(row.checksum).toBe(await sha256OfFile(MIGRATIONS_DIR, row.migration_name));
      expect(row.id).toMatch(UUID);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
    }
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);

    // The migrations really ran, not just their bookkeeping.
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    expect(await withPgClient((client) => schemaDrift(client, schema), url)).toEqual([]);
  });

  it('does nothing when run again, leaving the recorded rows as they were', async () => {
    const url = await scratchDatabase();
    const names = await migrationNames();
    await migrate(url);
    const before = await migrationRows(url);

    await expect(migrate(url)).resolves.toEqual({ applied: [], alreadyApplied: names });
    expect(await migrationRows(url)).toEqual(before);
  });

  it('records each migration once when two runs start at the same time', async () => {
    const url = await scratchDatabase();
    const names = await migrationNames();

    const results = await Promise.all([migrate(url), migrate(url)]);

    // The lock covers the whole run, so one run applies everything and the other finds it done.
    const appliedLists = results.map((result) => result.applied).sort((a, b) => a.length - b.length);
    expect(appliedLists).toEqual([[], names]);
    const rows = await migrationRows(url);
    expect(rows.map((row) => row.migration_name).sort()).toEqual(names);
    expect(rows.every((row) => row.finished_at !== null)).toBe(true);
  });

  it("waits for Prisma's advisory lock, so it never migrates alongside `prisma migrate`", async () => {
    const url = await scratchDatabase();
    await withPgClient(async (holder) => {
      await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
      const running = migrate(url);
      // Wait until the run is queued on the lock (a waiting advisory lock with Prisma's key in
      // this database), then check it has touched nothing yet.
      await expect
        .poll(async () => {
          const { rows } = await holder.query<{ waiting: number }>(
            `SELECT count(*)::int AS waiting FROM pg_locks
              WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = $1
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [PRISMA_ADVISORY_LOCK_KEY],
          );
          return rows[0]?.waiting;
        })
        .toBe(1);
      expect(await tableExists(url, '_prisma_migrations')).toBe(false);

      await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
      await expect(running).resolves.toEqual({ applied: await migrationNames(), alreadyApplied: [] });
    }, url);
  });

  it('rolls a failing migration back, records the failure as Prisma does, and then refuses to run', async () => {
    const url = await scratchDatabase();
    const dir = await copyOfMigrations();
    const good = await migrationNames(dir);
    const broken = '29991231000000_broken';
    await mkdir(path.join(dir, broken));
    // Two statements that succeed before one that fails: none of them may survive.
    await writeFile(
      path.join(dir, broken, 'migration.sql'),
      'CREATE TABLE "half_done" ("id" INTEGER);\nALTER TABLE "reminders" ADD COLUMN "half_done" INTEGER;\nSELECT * FROM "no_such_table";\n',
    );

    const run = migrate(url, dir);
    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(broken);

    expect(await tableExists(url, 'half_done')).toBe(false);
    const reminderColumns = await withPgClient(async (client) => {
      const { rows } = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = 'reminders'`,
      );
      return rows.map((row) => row.column_name);
    }, url);
    expect(reminderColumns).not.toContain('half_done');

    const rows = await migrationRows(url);
    expect(rows.map((row) => row.migration_name)).toEqual([...good, broken]);
    for (const row of rows.filter((candidate) => candidate.migration_name !== broken)) {
      expect(row.finished_at).not.toBeNull();
    }
    const failed = rows.find((row) => row.migration_name === broken)!;
    expect(failed).toMatchObject({
      finished_at: null,
      rolled_back_at: null,
      applied_steps_count: 0,
      checksum: await sha256OfFile(dir, broken),
    });
    expect(failed.id).toMatch(UUID);
    expect(failed.logs).toEqual(expect.stringContaining('no_such_table'));

    // Like Prisma's P3009: nothing runs until someone resolves the failure, even once the file is fixed.
    await writeFile(path.join(dir, broken, 'migration.sql'), 'SELECT 1;\n');
    await expect(migrate(url, dir)).rejects.toThrow(new RegExp(`${broken}.*failed`));
    expect(await migrationRows(url)).toEqual(rows);
  });

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const url = await scratchDatabase();
    const dir = await copyOfMigrations();
    const names = await migrationNames(dir);
    await migrate(url, dir);
    const before = await migrationRows(url);

    const edited = names[names.length - 1]!;
    await appendFile(path.join(dir, edited, 'migration.sql'), '\n-- an edit after the fact\n');

    const run = migrate(url, dir);
    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(new RegExp(`${edited} was edited`));
    expect(await migrationRows(url)).toEqual(before);
  });
});

describe('prisma/schema.prisma and the migrated database', () => {
  it('agree on every table, column, type, default, key, unique constraint, index and enum', async () => {
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    const differences = await withPgClient((client) => schemaDrift(client, schema));
    expect(differences).toEqual([]);
  });

  // The comparison above passing proves nothing unless it can fail: alter a migrated database
  // in each way the check is meant to catch, and expect every change to be reported.
  it('reports drift in the database, in both directions', async () => {
    const url = await scratchDatabase();
    await migrate(url);
    await withPgClient(async (client) => {
      await client.query(`
        ALTER TABLE "reminders" ADD COLUMN "x" INTEGER;
        ALTER TABLE "tasks" ALTER COLUMN "title" DROP NOT NULL;
        ALTER TABLE "tasks" ALTER COLUMN "status" SET DEFAULT 'COMPLETED';
        ALTER TABLE "reminders" ALTER COLUMN "attempt" TYPE BIGINT;
        ALTER TABLE "users" ALTER COLUMN "created_at" DROP DEFAULT;
        DROP INDEX "users_subject_key";
        DROP INDEX "tasks_owner_id_deadline_id_idx";
        CREATE UNIQUE INDEX "tasks_title_key" ON "tasks"("title");
        DROP INDEX "reminders_snoozed_from_id_key";
        CREATE UNIQUE INDEX "reminders_snoozed_from_id_key" ON "reminders"("snoozed_from_id");
        ALTER TABLE "reminders" DROP CONSTRAINT "reminders_task_id_fkey";
        ALTER TABLE "reminders" ADD CONSTRAINT "reminders_task_id_fkey"
          FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
        ALTER TYPE "ReminderStatus" ADD VALUE 'SNOOZED' BEFORE 'SENT';
        CREATE TABLE "stray" ("id" INTEGER PRIMARY KEY);
      `);
    }, url);
    const schema = await readFile(SCHEMA_PATH, 'utf8');

    const differences = await withPgClient((client) => schemaDrift(client, schema), url);

    expect(differences).toEqual(
      [
        'Reminder.attempt ("reminders"."attempt"): type is integer in the schema but bigint in the database',
        'Reminder.task (foreign key "reminders"(task_id)): ON DELETE CASCADE in the schema but RESTRICT in the database',
        'Reminder: partial unique (snoozed_from_id) is missing from the database',
        'Task.status ("tasks"."status"): default \'ACTIVE\' in the schema but \'COMPLETED\'::"TaskStatus" in the database',
        'Task.title ("tasks"."title"): required in the schema but nullable in the database',
        'Task: index (owner_id, deadline, id) is missing from the database',
        'User.createdAt ("users"."created_at"): default CURRENT_TIMESTAMP in the schema but none in the database',
        'User: unique (subject) is missing from the database',
        'enum ReminderStatus: labels are [PENDING, PROCESSING, SENT, FAILED, CANCELED] in the schema but [PENDING, PROCESSING, SNOOZED, SENT, FAILED, CANCELED] in the database',
        'table "reminders": column "x" (integer) is in the database but not in the schema',
        'table "reminders": unique index "reminders_snoozed_from_id_key" (snoozed_from_id) is in the database but not in the schema',
        'table "stray" is in the database but not in the schema',
        'table "tasks": unique index "tasks_title_key" (title) is in the database but not in the schema',
      ].sort(),
    );
  });

  it('reports a partial unique index with another predicate or another name', async () => {
    const schema = await readFile(SCHEMA_PATH, 'utf8');
    const url = await scratchDatabase();
    await migrate(url);
    const driftAfter = (sql: string) =>
      withPgClient(async (client) => {
        await client.query('BEGIN');
        try {
          await client.query(sql);
          return await schemaDrift(client, schema);
        } finally {
          await client.query('ROLLBACK');
        }
      }, url);

    expect(await driftAfter('SELECT 1')).toEqual([]);
    // The same predicate written as raw SQL in the schema.
    const declared = '@unique(where: { snoozedFromId: { not: null } })';
    expect(schema).toContain(declared);
    const raw = schema.replace(declared, '@unique(where: raw("\\"snoozed_from_id\\" IS NOT NULL"))');
    expect(await withPgClient((client) => schemaDrift(client, raw), url)).toEqual([]);
    // NULLs only: the index no longer stops a second snooze of one reminder.
    expect(
      await driftAfter(`DROP INDEX "reminders_snoozed_from_id_key";
        CREATE UNIQUE INDEX "reminders_snoozed_from_id_key" ON "reminders"("snoozed_from_id") WHERE "snoozed_from_id" IS NULL`),
    ).toEqual(['Reminder: partial unique (snoozed_from_id): WHERE (snoozed_from_id IS NOT NULL) in the schema but WHERE (snoozed_from_id IS NULL) in the database']);
    // src/domain/snooze.ts maps a violation to ALREADY_SNOOZED by this name.
    expect(await driftAfter('ALTER INDEX "reminders_snoozed_from_id_key" RENAME TO "reminders_snoozed_from_key"')).toEqual([
      'Reminder: partial unique (snoozed_from_id): named "reminders_snoozed_from_id_key" in the schema but "reminders_snoozed_from_key" in the database',
    ]);
  });

  it('reports what the schema declares but the database lacks', async () => {
    const schema = (await readFile(SCHEMA_PATH, 'utf8'))
      .replace('  lastError     String?', '  snoozedUntil  DateTime?      @map("snoozed_until")\n  lastError     String?')
      .replace(/\n\s*SENT\n/, '\n  SENT\n  SNOOZED\n')
      .replace('@@map("users")', '@@unique([email])\n  @@map("users")');

    const differences = await withPgClient((client) => schemaDrift(client, schema));

    expect(differences).toEqual(
      [
        'Reminder.snoozedUntil ("reminders"."snoozed_until"): column is missing from the database',
        'User: unique (email) is missing from the database',
        'enum ReminderStatus: labels are [PENDING, PROCESSING, SENT, SNOOZED, FAILED, CANCELED] in the schema but [PENDING, PROCESSING, SENT, FAILED, CANCELED] in the database',
      ].sort(),
    );
  });
});
