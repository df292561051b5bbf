import type { Database } from '../../db/client.js';

/** Announces a dispatcher, so others can tell it is alive by its heartbeat. */
export async function registerDispatcher(db: Database, id: string, host: string, pid: number): Promise<void> {
  await db.$executeRaw`
    INSERT INTO dispatchers (id, host, pid) VALUES (${id}, ${host}, ${pid})
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`;
}
