import type { Database } from '../../db/client.js';

/** Removes a dispatcher that stopped cleanly (after releasing its claims). */
export async function unregisterDispatcher(db: Database, id: string): Promise<void> {
  await db.$executeRaw`DELETE FROM dispatchers WHERE id = ${id}`;
}
