-- Each dispatcher states how long a silence means it is dead, and is judged by its own figure: a
-- dispatcher configured to heartbeat rarely is never declared dead by a neighbour with a short fuse.

-- AlterTable
ALTER TABLE "dispatchers" ADD COLUMN "dead_after_ms" INTEGER NOT NULL DEFAULT 10000;
ALTER TABLE "dispatchers" ADD CONSTRAINT "dispatchers_dead_after_ms_positive" CHECK ("dead_after_ms" > 0);
