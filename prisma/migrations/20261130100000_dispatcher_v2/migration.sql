-- Dispatcher v2: firing is one autocommit statement (claim and fire together, no PROCESSING
-- round trip for reminders), and the event log is ordered by commit instead of by a cluster-wide
-- advisory lock.
--
-- Each event records the id of the transaction that wrote it (pg_current_xact_id(), an xid8 kept as
-- bigint so Prisma can type it). Readers take only events whose transaction is older than the
-- oldest one still running (pg_snapshot_xmin(pg_current_snapshot())): those are all committed or
-- aborted, so the set below that watermark never changes, and reading it in (xid, id) order never
-- skips an event that commits later. Existing rows all get this migration's transaction id, so
-- among them the order stays their id order.

-- AlterTable
ALTER TABLE "events" ADD COLUMN "xid" BIGINT NOT NULL DEFAULT (pg_current_xact_id())::text::bigint;

-- The hub reads the whole log in (xid, id) order; a resuming subscriber reads its own part of it.
-- CreateIndex
CREATE INDEX "events_xid_id_idx" ON "events"("xid", "id");

-- CreateIndex
CREATE INDEX "events_user_id_xid_id_idx" ON "events"("user_id", "xid", "id");

-- The (user_id, id) index served replay by id; replay now goes by (user_id, xid, id).
-- DropIndex
DROP INDEX "events_user_id_id_idx";
