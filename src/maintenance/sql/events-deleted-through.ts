import type { Database } from '../../db/client.js';

/** The highest event id retention has deleted, or null when it has deleted none. */
export async function eventsDeletedThrough(db: Database): Promise<bigint | null> {
  const [row] = await db.$queryRaw<Array<{ deleted_through: bigint }>>`
    SELECT deleted_through FROM retention_watermarks WHERE name = 'events'`;
  return row?.deleted_through ?? null;
}
