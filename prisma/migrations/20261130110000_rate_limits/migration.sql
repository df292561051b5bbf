-- Counters of the per-user mutation rate limit (rate-limiter-flexible's PostgreSQL store, its own
-- table layout), kept in the database so that every server instance on it counts against one
-- budget. `expire` is the end of the key's current window, in Unix milliseconds.

-- CreateTable
CREATE TABLE "rate_limits" (
    "key" VARCHAR(255) NOT NULL,
    "points" INTEGER NOT NULL DEFAULT 0,
    "expire" BIGINT,

    CONSTRAINT "rate_limits_pkey" PRIMARY KEY ("key")
);
