-- Time-ordered row ids (UUID version 7, RFC 9562 section 5.7) for every table keyed by a UUID.
--
-- Why: a random (version 4) id puts each new row at a random leaf of its primary key, and a task's
-- id at a random leaf of every index that starts with task_id. Firing a reminder rewrites its row
-- (status is in the partial indexes' predicates, so the update is never HOT), which inserts into
-- reminders_pkey and reminders_task_id_trigger_at_key and reads tasks_pkey. With version 4 ids and
-- tables larger than shared_buffers, each of those lands on an uncached page, dirties it and writes
-- a full-page image to the WAL after every checkpoint: measured with 1,000,000 future and 1,000,000
-- fired reminders in the tables, a 50,000-reminder backlog fired 1.3-1.5x slower than on empty
-- tables, with 3x the WAL per reminder. With version 7 ids, rows created close in time share leaf
-- pages, as with the bigint keys of graphile-worker, River and Oban, and the loaded tables fire at
-- the empty tables' rate (BENCHMARKS.md, scale). RFC 9562 section 6.10 names this use.
--
-- Layout (RFC 9562 section 5.7): 48 bits of Unix time in milliseconds, the version (0111), 74
-- random bits with the variant (10). The random part comes from gen_random_uuid(), whose variant
-- bits are already right; this replaces its first 6 bytes with the time and sets the version.
-- Within one millisecond the order is random ("no monotonicity" in section 6.2), which is enough
-- for locality. PostgreSQL 18's uuidv7() writes the same layout; this function also runs on 13-17.
-- The id discloses when the row was created, which every owner can already read (createdAt).

-- CreateFunction
CREATE FUNCTION "tickler_uuid_v7"() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- AlterTable
ALTER TABLE "users" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
ALTER TABLE "tasks" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
ALTER TABLE "reminders" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
ALTER TABLE "webhook_endpoints" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
ALTER TABLE "deliveries" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
ALTER TABLE "task_series" ALTER COLUMN "id" SET DEFAULT tickler_uuid_v7();
