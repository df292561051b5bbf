-- Tickler's first schema: users, tasks with deadlines, reminders.
-- Written in the shape `prisma migrate dev` emits for prisma/schema.prisma, plus the guards that
-- Prisma's schema language cannot express (CHECK constraints, a partial index).

-- CreateEnum
CREATE TYPE "TaskStatus" AS ENUM ('ACTIVE', 'COMPLETED', 'CANCELED');

-- CreateEnum
CREATE TYPE "ReminderStatus" AS ENUM ('PENDING', 'PROCESSING', 'SENT', 'FAILED', 'CANCELED');

-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "subject" TEXT NOT NULL,
    "email" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "users_subject_length" CHECK (char_length("subject") BETWEEN 1 AND 255),
    CONSTRAINT "users_email_length" CHECK ("email" IS NULL OR char_length("email") <= 320)
);

-- CreateTable
CREATE TABLE "tasks" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "owner_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "deadline" TIMESTAMPTZ(3) NOT NULL,
    "status" "TaskStatus" NOT NULL DEFAULT 'ACTIVE',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id"),
    -- The API trims and bounds these too (src/domain/validation.ts); the database is the backstop.
    CONSTRAINT "tasks_title_length" CHECK (char_length("title") BETWEEN 1 AND 200),
    CONSTRAINT "tasks_description_length" CHECK ("description" IS NULL OR char_length("description") <= 5000)
);

-- CreateTable
CREATE TABLE "reminders" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "task_id" UUID NOT NULL,
    "trigger_at" TIMESTAMPTZ(3) NOT NULL,
    "offset_seconds" INTEGER,
    "status" "ReminderStatus" NOT NULL DEFAULT 'PENDING',
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "claimed_by" TEXT,
    "claimed_at" TIMESTAMPTZ(3),
    "fired_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reminders_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "reminders_offset_not_negative" CHECK ("offset_seconds" IS NULL OR "offset_seconds" >= 0),
    CONSTRAINT "reminders_attempt_not_negative" CHECK ("attempt" >= 0),
    -- A claim always names its claimer and its time, so a crashed claimer can be recognised.
    CONSTRAINT "reminders_processing_is_claimed" CHECK ("status" <> 'PROCESSING' OR ("claimed_by" IS NOT NULL AND "claimed_at" IS NOT NULL)),
    CONSTRAINT "reminders_sent_has_fired_at" CHECK ("status" <> 'SENT' OR "fired_at" IS NOT NULL)
);

-- CreateIndex
CREATE UNIQUE INDEX "users_subject_key" ON "users"("subject");

-- CreateIndex
CREATE INDEX "tasks_owner_id_deadline_id_idx" ON "tasks"("owner_id", "deadline", "id");

-- One reminder per task and moment: duplicates are impossible, however requests race. Deferred to
-- the end of each statement (Prisma would emit a plain unique index) so that moving a deadline can
-- shift several relative reminders in one UPDATE without tripping over each other's old times.
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_task_id_trigger_at_key" UNIQUE ("task_id", "trigger_at") DEFERRABLE INITIALLY IMMEDIATE;

-- The dispatcher's claim query reads only pending reminders in trigger order; this index holds
-- just those rows, so it stays small however much history accumulates.
CREATE INDEX "reminders_pending_trigger_at_idx" ON "reminders"("trigger_at") WHERE "status" = 'PENDING';

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
