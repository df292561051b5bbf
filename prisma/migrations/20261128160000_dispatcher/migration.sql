-- The dispatcher: who is alive (heartbeats), the durable event log of fired reminders, the
-- user-managed webhook endpoints, and one delivery row per event and external channel.

-- CreateEnum
CREATE TYPE "DeliveryChannel" AS ENUM ('WEBHOOK', 'EMAIL');

-- CreateEnum
CREATE TYPE "DeliveryStatus" AS ENUM ('PENDING', 'PROCESSING', 'SENT', 'FAILED');

-- CreateTable
CREATE TABLE "dispatchers" (
    "id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dispatchers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "events" (
    "id" BIGSERIAL NOT NULL,
    "user_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "reminder_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSONB NOT NULL,

    CONSTRAINT "events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_endpoints" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "description" TEXT,
    "secret" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_endpoints_url_length" CHECK (char_length("url") BETWEEN 1 AND 2048),
    CONSTRAINT "webhook_endpoints_secret_format" CHECK ("secret" LIKE 'whsec\_%')
);

-- CreateTable
CREATE TABLE "deliveries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "event_id" BIGINT NOT NULL,
    "user_id" UUID NOT NULL,
    "channel" "DeliveryChannel" NOT NULL,
    "endpoint_id" UUID,
    "status" "DeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimed_by" TEXT,
    "claimed_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deliveries_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "deliveries_webhook_has_endpoint" CHECK ("channel" <> 'WEBHOOK' OR "endpoint_id" IS NOT NULL),
    CONSTRAINT "deliveries_processing_is_claimed" CHECK ("status" <> 'PROCESSING' OR ("claimed_by" IS NOT NULL AND "claimed_at" IS NOT NULL)),
    CONSTRAINT "deliveries_attempt_not_negative" CHECK ("attempt" >= 0)
);

-- CreateTable
CREATE TABLE "delivery_attempts" (
    "id" BIGSERIAL NOT NULL,
    "delivery_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "attempted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "duration_ms" INTEGER NOT NULL,
    "status_code" INTEGER,
    "error" TEXT,

    CONSTRAINT "delivery_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "events_user_id_id_idx" ON "events"("user_id", "id");

-- CreateIndex
CREATE INDEX "webhook_endpoints_user_id_idx" ON "webhook_endpoints"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "deliveries_event_id_channel_endpoint_id_key" ON "deliveries"("event_id", "channel", "endpoint_id");

-- CreateIndex
CREATE INDEX "deliveries_user_id_created_at_idx" ON "deliveries"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "delivery_attempts_delivery_id_idx" ON "delivery_attempts"("delivery_id");

-- What the dispatcher claims, and what it sleeps until: small partial indexes over work not yet done.
CREATE INDEX "deliveries_pending_next_attempt_at_idx" ON "deliveries"("next_attempt_at") WHERE "status" = 'PENDING';
CREATE INDEX "deliveries_processing_claimed_by_idx" ON "deliveries"("claimed_by") WHERE "status" = 'PROCESSING';
CREATE INDEX "reminders_processing_claimed_by_idx" ON "reminders"("claimed_by") WHERE "status" = 'PROCESSING';

-- AddForeignKey
ALTER TABLE "events" ADD CONSTRAINT "events_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_attempts" ADD CONSTRAINT "delivery_attempts_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Wake sleeping dispatchers when a reminder becomes due earlier than they planned: on every insert,
-- and every update that sets a pending reminder's time (a moved deadline, a recovered claim). One
-- notification per statement carries the earliest new trigger time, in epoch milliseconds; bulk
-- inserts therefore cost one notification, not one per row.
CREATE FUNCTION "tickler_notify_reminders_due"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    earliest TIMESTAMPTZ;
BEGIN
    SELECT min("trigger_at") INTO earliest FROM changed WHERE "status" = 'PENDING';
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('tickler_reminders', (floor(extract(epoch FROM earliest) * 1000))::bigint::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER "reminders_notify_insert" AFTER INSERT ON "reminders"
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "tickler_notify_reminders_due"();
CREATE TRIGGER "reminders_notify_update" AFTER UPDATE ON "reminders"
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "tickler_notify_reminders_due"();
