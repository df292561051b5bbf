import type { Database } from '../db/client.js';

/**
 * The body of GET /ready. `pendingMigrations` is `"unknown"` when the database did not answer: what
 * could not be checked is not reported as pending.
 */
export interface Readiness {
  ready: boolean;
  database: 'ok' | 'unreachable';
  pendingMigrations: string[] | 'unknown';
}

const READINESS_TIMEOUT_MS = 2000;

/** Ready means: the database answers, and every migration this build knows is applied. */
export async function checkReadiness(db: Database, migrationNames: readonly string[]): Promise<Readiness> {
  const query = (async () => {
    const [table] = await db.$queryRaw<Array<{ present: boolean }>>`
      SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`;
    if (!table?.present) return [];
    return db.$queryRaw<Array<{ migration_name: string }>>`
      SELECT migration_name FROM "_prisma_migrations"
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  })();
  // The query may still fail after the timeout won the race; nobody awaits it then.
  query.catch(() => undefined);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), READINESS_TIMEOUT_MS).unref());
  try {
    const rows = await Promise.race([query, timeout]);
    const applied = new Set(rows.map((row) => row.migration_name));
    const pendingMigrations = migrationNames.filter((name) => !applied.has(name));
    return { ready: pendingMigrations.length === 0, database: 'ok', pendingMigrations };
  } catch {
    return { ready: false, database: 'unreachable', pendingMigrations: 'unknown' };
  }
}
