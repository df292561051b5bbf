import type { Database } from '../../db/client.js';

/**
 * Announces a dispatcher, so others can tell it is alive by its heartbeat, and how long a silence
 * of its own means it is dead (each is judged by its own setting, not by the judge's).
 */
export async function registerDispatcher(db: Database, id: string, host: string, pid: number, deadAfterMs: number): Promise<void> {
  await db.$executeRaw`
    INSERT INTO dispatchers (id, host, pid, dead_after_ms) VALUES (${id}, ${host}, ${pid}, ${deadAfterMs})
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), dead_after_ms = EXCLUDED.dead_after_ms`;
}
