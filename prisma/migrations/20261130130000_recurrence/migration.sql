-- Time zones, recurring tasks (RFC 5545 RRULE), local relative reminders, snooze and quiet hours
-- (issue 11). Times of day are stored as minutes after local midnight (0..1439); zones as IANA
-- names, checked by the API (src/domain/time-zones.ts) before they are written.

-- CreateEnum
CREATE TYPE "SeriesStatus" AS ENUM ('ACTIVE', 'ENDED', 'CANCELED');

-- AlterTable: each user's zone (from the token's `zoneinfo` claim on first sight, else UTC) and
-- quiet hours, a local window in which external deliveries wait.
ALTER TABLE "users" ADD COLUMN "time_zone" TEXT NOT NULL DEFAULT 'UTC',
    ADD COLUMN "quiet_start_minute" INTEGER,
    ADD COLUMN "quiet_end_minute" INTEGER;
ALTER TABLE "users" ADD CONSTRAINT "users_time_zone_length" CHECK (char_length("time_zone") BETWEEN 1 AND 64);
ALTER TABLE "users" ADD CONSTRAINT "users_quiet_hours_shape" CHECK (
    ("quiet_start_minute" IS NULL AND "quiet_end_minute" IS NULL)
    OR ("quiet_start_minute" BETWEEN 0 AND 1439 AND "quiet_end_minute" BETWEEN 0 AND 1439
        AND "quiet_start_minute" <> "quiet_end_minute"));

-- CreateTable: a recurring task's rule. Each occurrence is a task row carrying the series id and
-- its number in the recurrence set.
CREATE TABLE "task_series" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "owner_id" UUID NOT NULL,
    "rule" TEXT NOT NULL,
    "time_zone" TEXT NOT NULL,
    "anchor_local" TEXT NOT NULL,
    "last_occurrence" INTEGER NOT NULL DEFAULT 1,
    "status" "SeriesStatus" NOT NULL DEFAULT 'ACTIVE',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_series_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "task_series_rule_length" CHECK (char_length("rule") BETWEEN 1 AND 500),
    CONSTRAINT "task_series_time_zone_length" CHECK (char_length("time_zone") BETWEEN 1 AND 64),
    -- A local wall-clock DTSTART, ISO 8601 without offset (Temporal.PlainDateTime), e.g. 2030-01-31T09:00:00.
    CONSTRAINT "task_series_anchor_local_shape" CHECK ("anchor_local" ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$'),
    CONSTRAINT "task_series_last_occurrence_positive" CHECK ("last_occurrence" >= 1)
);

-- CreateIndex
CREATE INDEX "task_series_owner_id_idx" ON "task_series"("owner_id");

-- AddForeignKey
ALTER TABLE "task_series" ADD CONSTRAINT "task_series_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable: a task's zone, and for an occurrence its series and number.
ALTER TABLE "tasks" ADD COLUMN "time_zone" TEXT NOT NULL DEFAULT 'UTC',
    ADD COLUMN "series_id" UUID,
    ADD COLUMN "occurrence" INTEGER;
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_time_zone_length" CHECK (char_length("time_zone") BETWEEN 1 AND 64);
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_occurrence_of_series" CHECK (("series_id" IS NULL) = ("occurrence" IS NULL) AND ("occurrence" IS NULL OR "occurrence" >= 1));

-- Exactly one task per occurrence of a series, however completions and dispatchers race.
CREATE UNIQUE INDEX "tasks_series_id_occurrence_key" ON "tasks"("series_id", "occurrence");

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_series_id_fkey" FOREIGN KEY ("series_id") REFERENCES "task_series"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterTable: local relative reminders ("N days before at HH:MM local", minus N minutes) and snoozes.
ALTER TABLE "reminders" ADD COLUMN "local_days_before" INTEGER,
    ADD COLUMN "local_time_minute" INTEGER,
    ADD COLUMN "local_minutes_before" INTEGER,
    ADD COLUMN "snoozed_from_id" UUID;
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_local_shape" CHECK (
    ("local_days_before" IS NULL AND "local_time_minute" IS NULL AND "local_minutes_before" IS NULL)
    OR ("local_days_before" BETWEEN 0 AND 3660 AND "offset_seconds" IS NULL
        AND ("local_time_minute" IS NULL OR "local_time_minute" BETWEEN 0 AND 1439)
        AND ("local_minutes_before" IS NULL OR "local_minutes_before" BETWEEN 0 AND 5270400)));

-- One snooze per fired reminder: snoozing twice, or two snoozes racing, arm one firing.
CREATE UNIQUE INDEX "reminders_snoozed_from_id_key" ON "reminders"("snoozed_from_id");

-- AddForeignKey
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_snoozed_from_id_fkey" FOREIGN KEY ("snoozed_from_id") REFERENCES "reminders"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- A local wall-clock time in `zone` as an instant, by Temporal's "compatible" disambiguation, which
-- is RFC 5545 §3.3.5's rule for DATE-TIME with TZID: a time inside a spring-forward gap moves
-- forward by the gap (02:30 -> 03:30), and a time that occurs twice is the earlier occurrence.
-- PostgreSQL's own `AT TIME ZONE` already moves gap times forward, but picks the *later* of two
-- repeated times, so the earlier candidate is tried first.
CREATE FUNCTION "tickler_local_to_instant"("local" TIMESTAMP, "zone" TEXT) RETURNS TIMESTAMPTZ
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN earlier < later AND (earlier AT TIME ZONE zone) = local THEN earlier ELSE later END
    FROM (SELECT local AT TIME ZONE zone AS later) l,
    LATERAL (
        -- The offset in force three hours before PostgreSQL's answer: the offset before a transition.
        SELECT (local - (((l.later - interval '3 hours') AT TIME ZONE zone) - ((l.later - interval '3 hours') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' AS earlier
    ) e
$$;

-- When an external delivery due at `due` may go out, given quiet hours from `start_minute` to
-- `end_minute` local time in `zone` (a window that crosses midnight when start > end): `due`
-- itself outside the window, else the window's end (by the rule above). An unknown zone or no
-- window leaves `due` unchanged: quiet hours must never stop a delivery.
CREATE FUNCTION "tickler_quiet_hours_end"("due" TIMESTAMPTZ, "zone" TEXT, "start_minute" INTEGER, "end_minute" INTEGER) RETURNS TIMESTAMPTZ
LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_due TIMESTAMP;
    minute_of_day INTEGER;
    end_day DATE;
BEGIN
    IF due IS NULL OR zone IS NULL OR start_minute IS NULL OR end_minute IS NULL OR start_minute = end_minute THEN
        RETURN due;
    END IF;
    local_due := due AT TIME ZONE zone;
    minute_of_day := extract(hour FROM local_due)::int * 60 + extract(minute FROM local_due)::int;
    IF start_minute < end_minute THEN
        IF minute_of_day < start_minute OR minute_of_day >= end_minute THEN RETURN due; END IF;
        end_day := local_due::date;
    ELSE
        IF minute_of_day < start_minute AND minute_of_day >= end_minute THEN RETURN due; END IF;
        end_day := CASE WHEN minute_of_day >= start_minute THEN local_due::date + 1 ELSE local_due::date END;
    END IF;
    RETURN greatest(due, tickler_local_to_instant(end_day + make_interval(mins => end_minute), zone));
EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
    RETURN due;
END;
$$;
