/**
 * The dispatcher's side of recurring tasks: when the newest occurrence of a series passes its
 * deadline without being completed, the next occurrence is created (series.ts), one series per
 * transaction so that one bad series cannot hold back the others. Exactly once, also against a
 * completion or another dispatcher at the same moment: the series row is locked (SKIP LOCKED here,
 * FOR UPDATE in a completion) and its newest occurrence re-checked under the lock.
 */
import type { Database } from '../db/client.js';
import { advanceSeries } from '../domain/series.js';
import { log } from '../logger.js';
import { claimDueSeries } from './sql/claim-due-series.js';

/**
 * Advances every series whose newest occurrence's deadline has passed, up to `max`.
 * @returns how many next occurrences were created, and how many series failed to advance.
 */
export async function advanceDueSeries(db: Database, max = 100): Promise<{ created: number; failed: number }> {
  let created = 0;
  // A series whose advance fails (it should not) is logged and left for the next pass, so that it
  // cannot hold back the others in this one.
  const failed: string[] = [];
  for (let round = 0; round < max; round += 1) {
    let current: string | undefined;
    try {
      const outcome = await db.$transaction(async (tx) => {
        const [due] = await claimDueSeries(tx, 1, failed);
        if (due === undefined) return 'none' as const;
        current = due.id;
        const [row] = await tx.$queryRaw<Array<{ now: Date }>>`SELECT statement_timestamp() AS now`;
        return (await advanceSeries(tx, due.id, due.lastOccurrence, row?.now ?? new Date())) === null ? ('ended' as const) : ('created' as const);
      });
      if (outcome === 'none') break;
      if (outcome === 'created') created += 1;
    } catch (error) {
      if (current === undefined) throw error;
      log.error('could not advance a recurring task past its deadline', { series: current, error });
      failed.push(current);
    }
  }
  if (created > 0) log.info('recurring tasks advanced past their deadline', { created });
  return { created, failed: failed.length };
}
