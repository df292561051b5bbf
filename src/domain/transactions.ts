/**
 * How every change runs: one interactive transaction that first learns the database's time and
 * bounds its own lock waits, then validates against that time and writes.
 *
 * - **One clock.** "Is it in the past?" and "is it more than 10 years ahead?" are judged against
 *   PostgreSQL's `statement_timestamp()`, the same clock the dispatcher fires by, never the API
 *   host's: a host whose clock is off by minutes gives the same verdicts as one that is right.
 * - **Bounded waits.** `SET LOCAL lock_timeout` (via `set_config(..., true)`, so it ends with the
 *   transaction) makes a change that cannot get a row lock in time fail with 55P03 instead of
 *   holding a pooled connection until Prisma's transaction timeout. That failure, a full pool (Prisma
 *   P2028 "Unable to start a transaction in the given time"), and deadlock or serialisation victims
 *   (40P01, 40001, Prisma P2034) all answer the typed, retryable BUSY. Nothing was written in any case.
 */
import type { Database } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { BusyError } from './errors.js';
import type { TransactionPolicy } from './policy.js';

export type Transaction = Prisma.TransactionClient;

/** SQLSTATEs after which the same request can simply be retried. */
const RETRYABLE_SQLSTATES: Record<string, string> = {
  '55P03': 'a row lock was not granted in time',
  '40P01': 'deadlock',
  '40001': 'serialisation conflict',
};

/** Why `error` is a retryable contention failure, or null when it is something else. */
export function contentionReason(error: unknown): string | null {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return null;
  if (error.code === 'P2028') return 'no database connection was free in time';
  if (error.code === 'P2034') return 'write conflict';
  const meta = error.meta as { driverAdapterError?: { cause?: { originalCode?: string } } } | undefined;
  const sqlState = meta?.driverAdapterError?.cause?.originalCode;
  return sqlState === undefined ? null : (RETRYABLE_SQLSTATES[sqlState] ?? null);
}

/**
 * Runs `work` in one transaction, handing it the database's current time. Contention becomes
 * BusyError; every other error passes through unchanged (and rolls the transaction back).
 *
 * `lockUserId`: also takes that user's row lock (FOR UPDATE) in the same first statement, after the
 * lock timeout is set (the lateral subquery depends on it, so it runs second), instead of a statement
 * of its own: what serialises one user's quota-checked creates costs no extra round trip.
 */
export async function inTransaction<T>(
  db: Database,
  policy: TransactionPolicy,
  work: (tx: Transaction, now: Date) => Promise<T>,
  options: { lockUserId?: string } = {},
): Promise<T> {
  try {
    return await db.$transaction(
      async (tx) => {
        const lockTimeout = `${policy.lockTimeoutMs}ms`;
        const rows =
          options.lockUserId === undefined
            ? await tx.$queryRaw<Array<{ now: Date }>>`
                SELECT set_config('lock_timeout', ${lockTimeout}, true) AS lock_timeout, statement_timestamp() AS now`
            : await tx.$queryRaw<Array<{ now: Date }>>`
                WITH settings AS MATERIALIZED (
                  SELECT set_config('lock_timeout', ${lockTimeout}, true) AS lock_timeout, statement_timestamp() AS now
                )
                SELECT settings.now FROM settings
                LEFT JOIN LATERAL (
                  SELECT users.id FROM users WHERE users.id = ${options.lockUserId}::uuid AND settings.lock_timeout IS NOT NULL FOR UPDATE
                ) AS locked ON true`;
        const now = rows[0]?.now;
        if (!(now instanceof Date)) throw new Error('statement_timestamp() returned no time');
        return work(tx, now);
      },
      { maxWait: policy.maxWaitMs, timeout: policy.timeoutMs },
    );
  } catch (error) {
    const reason = contentionReason(error);
    if (reason !== null) throw new BusyError(Math.max(1, Math.ceil(policy.lockTimeoutMs / 1000)), reason);
    throw error;
  }
}
