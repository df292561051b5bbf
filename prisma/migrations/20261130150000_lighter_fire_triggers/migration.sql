-- Two per-row costs of firing a reminder that bought nothing the fire needs (measured on a 50,000
-- backlog, one dispatcher, PostgreSQL 15: 29.3 µs of database time per reminder before, 24.2 after;
-- BENCHMARKS.md, throughput notes).

-- 1. The foreign key events.user_id -> users checked every appended event with a locking lookup of
--    its owner (SELECT ... FOR KEY SHARE, run through SPI once per row): 15% of a fire. Only the fire
--    statement writes events, for the owner of the task it read, and tasks.owner_id is itself a
--    foreign key, so the check never refused a row. What the key did give is the cascade: deleting a
--    user deleted their events, also those of a fire committing meanwhile (its check waited on the
--    user's row), and a changed user id or TRUNCATE ... CASCADE followed. Triggers keep all three,
--    waiting for such a fire through the reminders it holds.
ALTER TABLE "events" DROP CONSTRAINT "events_user_id_fkey";

CREATE FUNCTION "tickler_user_events_follow"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- No fire may be appending an event of this user once their events are deleted (or re-pointed,
    -- should their id change: the key cascaded updates too). The user's row is locked already (a
    -- BEFORE trigger runs on the locked row): no new task can name them. Lock their tasks (no new
    -- reminder can name one), then their reminders that a fire could take (PENDING, and PROCESSING,
    -- which recovery turns back into PENDING): this waits for a fire holding one of them, and a fire
    -- that starts later skips them (SKIP LOCKED). The foreign keys' own cascades cannot give this
    -- order: they run after the row is gone, and the cascade to reminders is queued behind every
    -- trigger of the user's row.
    PERFORM 1 FROM "tasks" WHERE "owner_id" = OLD."id" FOR UPDATE;
    PERFORM 1 FROM "reminders"
    WHERE "task_id" IN (SELECT "id" FROM "tasks" WHERE "owner_id" = OLD."id") AND "status" IN ('PENDING', 'PROCESSING')
    FOR UPDATE;
    -- A statement of its own, so a snapshot of its own (READ COMMITTED): it sees what those fires committed.
    IF TG_OP = 'DELETE' THEN
        DELETE FROM "events" WHERE "user_id" = OLD."id";
        RETURN OLD;
    END IF;
    UPDATE "events" SET "user_id" = NEW."id" WHERE "user_id" = OLD."id";
    RETURN NEW;
END;
$$;

CREATE TRIGGER "users_events_follow" BEFORE DELETE OR UPDATE OF "id" ON "users"
    FOR EACH ROW EXECUTE FUNCTION "tickler_user_events_follow"();

-- TRUNCATE users CASCADE empties every table with a foreign key to users; events no longer has one.
-- (A TRUNCATE of events here would fail: deliveries, which reference events, are being truncated by
-- the same statement. They are empty by now, so a DELETE finds nothing to cascade to.)
CREATE FUNCTION "tickler_truncate_events"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "events";
    RETURN NULL;
END;
$$;

CREATE TRIGGER "users_truncate_events" AFTER TRUNCATE ON "users"
    FOR EACH STATEMENT EXECUTE FUNCTION "tickler_truncate_events"();

-- 2. The statement-level update trigger that wakes dispatchers copied every updated row into a
--    transition table and scanned it, also on a fire's update, which never leaves a row pending
--    (5% of a fire). A row-level trigger whose WHEN clause is false is not queued at all; it fires
--    only for a row that is pending afterwards and was not pending before or moved. One notification
--    per such row (PostgreSQL merges identical ones), carrying its trigger time in epoch milliseconds.
DROP TRIGGER "reminders_notify_update" ON "reminders";

CREATE FUNCTION "tickler_notify_reminder_due"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickler_reminders', (floor(extract(epoch FROM NEW."trigger_at") * 1000))::bigint::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER "reminders_notify_update" AFTER UPDATE ON "reminders"
    FOR EACH ROW
    WHEN (NEW."status" = 'PENDING' AND (OLD."status" <> 'PENDING' OR NEW."trigger_at" IS DISTINCT FROM OLD."trigger_at"))
    EXECUTE FUNCTION "tickler_notify_reminder_due"();
