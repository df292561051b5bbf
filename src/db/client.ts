import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { metrics } from '../metrics/registry.js';
import { PrismaClient } from '../generated/prisma/client.js';

export type Database = PrismaClient;

export interface DatabaseOptions {
  /** Connections in the pool; the API and the dispatcher share it. */
  poolSize?: number;
}

export function createPrismaClient(databaseUrl: string, options: DatabaseOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // A statement that runs this long is a bug or a lock pile-up; fail it rather than hang a request.
    statement_timeout: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // Our own pool (ended by $disconnect) so /metrics can report connections in use and queries waiting.
  const untrack = metrics.pool.track(() => {
    if (pool.ended) untrack();
    return { in_use: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount };
  });
  return new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
}
