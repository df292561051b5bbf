import type { Database } from '../../db/client.js';

/** On a clean shutdown: hands this dispatcher's unfinished delivery claims back, to be taken at once by another. */
export async function releaseDeliveryClaims(db: Database, dispatcherId: string): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ released: number }>>`
    WITH released AS (
      UPDATE deliveries SET status = 'PENDING', claimed_by = NULL, claimed_at = NULL, next_attempt_at = now(), updated_at = now()
      WHERE status = 'PROCESSING' AND claimed_by = ${dispatcherId}
      RETURNING id
    )
    SELECT count(*)::int AS released FROM released`;
  return row?.released ?? 0;
}
