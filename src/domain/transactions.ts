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

function clockOf(row: { now: Date } | undefined): Date {
  if (!(row?.now instanceof Date)) throw new Error('statement_timestamp() returned no time');
  return row.now;
}

/** The viewer's row as the transaction's first statement read it (see `inTransaction`'s `user`). */
export interface TransactionUser {
  /** IANA zone of the user's new tasks. */
  timeZone: string;
}

/**
 * Runs `work` in one transaction, handing it the database's current time. Contention becomes
 * BusyError; every other error passes through unchanged (and rolls the transaction back).
 *
 * `user`: the same first statement also reads that user's row, handed to `work` (null when the
 * row does not exist, or without this option), and with `lock` takes its row lock (FOR UPDATE),
 * after the lock timeout is set (the lateral subquery depends on it, so it runs second). What
 * serialises one user's quota-checked creates, and the zone a new task defaults to, cost no round
 * trip of their own.
 */
export async function inTransaction<T>(
  db: Database,
  policy: TransactionPolicy,
  work: (tx: Transaction, now: Date, user: TransactionUser | null) => Promise<T>,
  options: { user?: { id: string; lock: boolean } } = {},
): Promise<T> {
  try {
    return await db.$transaction(
      async (tx) => {
        const lockTimeout = `${policy.lockTimeoutMs}ms`;
        const { user } = options;
        if (user === undefined) {
          const rows = await tx.$queryRaw<Array<{ now: Date }>>`
            SELECT set_config('lock_timeout', ${lockTimeout}, true) AS lock_timeout, statement_timestamp() AS now`;
          return work(tx, clockOf(rows[0]), null);
        }
        const rows = await tx.$queryRaw<Array<{ now: Date; time_zone: string | null }>>`
          WITH settings AS MATERIALIZED (
            SELECT set_config('lock_timeout', ${lockTimeout}, true) AS lock_timeout, statement_timestamp() AS now
          )
          SELECT settings.now, viewer.time_zone FROM settings
          LEFT JOIN LATERAL (
            SELECT users.time_zone FROM users WHERE users.id = ${user.id}::uuid AND settings.lock_timeout IS NOT NULL
            ${user.lock ? Prisma.sql`FOR UPDATE` : Prisma.empty}
          ) AS viewer ON true`;
        const timeZone = rows[0]?.time_zone ?? null;
        return work(tx, clockOf(rows[0]), timeZone === null ? null : { timeZone });
      },
      { maxWait: policy.maxWaitMs, timeout: policy.timeoutMs },
    );
  } catch (error) {
    const reason = contentionReason(error);
    if (reason !== null) throw new BusyError(Math.max(1, Math.ceil(policy.lockTimeoutMs / 1000)), reason);
    throw error;
  }
}
