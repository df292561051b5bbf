-- Retention (src/maintenance/retention.ts) deletes the oldest rows in small batches. These indexes let
-- each batch find its rows without scanning a table; the watermark records how far the event log was
-- cut, so a subscription resuming from before that point is told to reload instead of missing events.

-- CreateTable
CREATE TABLE "retention_watermarks" (
    "name" TEXT NOT NULL,
    "deleted_through" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "retention_watermarks_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE INDEX "events_occurred_at_idx" ON "events"("occurred_at");

-- Finished deliveries by age, and finished tasks by age (partial: Prisma's schema cannot say so).
CREATE INDEX "deliveries_finished_updated_at_idx" ON "deliveries"("updated_at") WHERE "status" IN ('SENT', 'FAILED');
CREATE INDEX "tasks_finished_updated_at_idx" ON "tasks"("updated_at") WHERE "status" <> 'ACTIVE';
