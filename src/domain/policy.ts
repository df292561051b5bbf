/**
 * The per-deployment knobs of the domain rules: quotas and how long a change may wait for locks
 * and connections. Fixed rules (lengths, 25 reminders, 10 years) live in `validation.ts`; these
 * come from the environment (`src/config.ts`) and reach the domain through the GraphQL context.
 */
export interface DomainPolicy {
  /** Active tasks one user may have at once; 0 means no limit (`MAX_ACTIVE_TASKS_PER_USER`). */
  maxActiveTasksPerUser: number;
  transactions: TransactionPolicy;
}

export interface TransactionPolicy {
  /**
   * Longest wait, in ms, for one row lock (PostgreSQL `lock_timeout`, set with `SET LOCAL` for the
   * change's transaction only). A change that waits longer answers BUSY instead of queueing.
   */
  lockTimeoutMs: number;
  /** Longest wait, in ms, for a free pooled connection before the transaction starts (Prisma `maxWait`). */
  maxWaitMs: number;
  /** Longest a change's transaction may run, in ms (Prisma `timeout`); must exceed `lockTimeoutMs`. */
  timeoutMs: number;
}

export const DEFAULT_POLICY: DomainPolicy = {
  maxActiveTasksPerUser: 1000,
  transactions: { lockTimeoutMs: 2000, maxWaitMs: 5000, timeoutMs: 10_000 },
};
