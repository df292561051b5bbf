/**
 * Changes to one task queue here, in this process, before they take a database connection.
 * Without it, a burst of changes to one task (300 concurrent updateTask calls) fills the connection
 * pool with transactions that only wait on that task's row lock, and every other user's request
 * then meets a full pool. With it, one task's burst holds at most `IN_FLIGHT_PER_TASK` connections
 * per server instance: enough that the next change's BEGIN overlaps the current one's work, few
 * enough to leave the pool to everyone else. Across instances the row lock (bounded by
 * `lock_timeout`) still orders them.
 *
 * A change waits here at most the transaction's `maxWaitMs`, and at most `MAX_WAITING_PER_TASK`
 * changes wait per task; beyond either it answers the retryable BUSY.
 */
import type { Database } from '../db/client.js';
import { BusyError } from './errors.js';
import type { DomainPolicy } from './policy.js';
import type { Viewer } from './types.js';
import { inTransaction, type Transaction } from './transactions.js';

const IN_FLIGHT_PER_TASK = 3;
const MAX_WAITING_PER_TASK = 1000;

interface Line {
  inFlight: number;
  /** Waiters in arrival order; each is started by the change that finishes before it. */
  waiting: Array<() => void>;
}

const lines = new Map<string, Line>();

/**
 * Runs `work` once fewer than `IN_FLIGHT_PER_TASK` earlier changes under `key` run in this process.
 * The key is the viewer and the task (`<userId>:<taskId>`): a caller naming someone else's task
 * queues apart from its owner and cannot delay them.
 */
export async function queuedForTask<T>(key: string, maxWaitMs: number, work: () => Promise<T>): Promise<T> {
  let line = lines.get(key);
  if (line === undefined) {
    line = { inFlight: 0, waiting: [] };
    lines.set(key, line);
  }
  if (line.inFlight >= IN_FLIGHT_PER_TASK) {
    if (line.waiting.length >= MAX_WAITING_PER_TASK) throw new BusyError(1, `${MAX_WAITING_PER_TASK} changes to this task are already waiting`);
    const current = line;
    await new Promise<void>((resolve, reject) => {
      const start = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        current.waiting.splice(current.waiting.indexOf(start), 1);
        reject(new BusyError(Math.max(1, Math.ceil(maxWaitMs / 1000)), 'too many changes to this task are queued'));
      }, maxWaitMs);
      current.waiting.push(start);
    });
    // The finishing change handed its place over: inFlight already counts this one.
  } else {
    line.inFlight += 1;
  }
  try {
    return await work();
  } finally {
    const next = line.waiting.shift();
    if (next) next();
    else {
      line.inFlight -= 1;
      if (line.inFlight === 0) lines.delete(key);
    }
  }
}

/** One change to one of the viewer's tasks: queued behind earlier changes to it, then one transaction. */
export function inTaskTransaction<T>(
  db: Database,
  viewer: Viewer,
  taskId: string,
  policy: DomainPolicy,
  work: (tx: Transaction, now: Date) => Promise<T>,
): Promise<T> {
  return queuedForTask(`${viewer.userId}:${taskId}`, policy.transactions.maxWaitMs, () => inTransaction(db, policy.transactions, work));
}
