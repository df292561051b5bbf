import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { log } from '../logger.js';
import { metrics } from '../metrics/registry.js';
import { PrismaClient } from '../generated/prisma/client.js';

export type Database = PrismaClient;

export interface DatabaseOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Shown in pg_stat_activity.application_name: tells the API's connections from the dispatcher's. */
  applicationName?: string;
}

export function createPrismaClient(databaseUrl: string, options: DatabaseOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // A statement that runs this long is a bug or a lock pile-up; fail it rather than hang a request.
    statement_timeout: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: options.applicationName ?? 'tickler',
    // A connection whose server vanished without a word is found out by the kernel, not never.
    keepAlive: true,
    // Every session in UTC with ISO dates, whatever the server's or database's defaults: Prisma's
    // adapter reads timestamptz text without its offset, so a database set to another TimeZone
    // shifted every timestamp read through Prisma (and year-1 rows failed to parse).
    options: '-c TimeZone=UTC -c DateStyle=ISO',
  });
  // pg-pool re-emits an idle connection's error (the server restarted or terminated it: 57P01, a
  // dropped socket) on the pool, and an 'error' event nobody listens to throws: the process would
  // die. Prisma's adapter listens only from its first query on, and the raw reads of sqlPoolOf()
  // can come first. The pool drops that connection and opens a new one when next needed.
  pool.on('error', (error) => log.warn('idle database connection lost', { error, application: options.applicationName ?? 'tickler' }));
  // Our own pool (ended by $disconnect) so /metrics can report connections in use and queries waiting.
  const untrack = metrics.pool.track(() => {
    if (pool.ended) untrack();
    return { in_use: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount };
  });
  return withSqlPool(new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) }), pool);
}

/**
 * The pg pool under each client made here, for the few hot reads that send one hand-written statement
 * straight to pg (src/graphql/task-page.ts): Prisma's client and query compiler cost more CPU than
 * the query itself there (issue 10). Kept beside the client rather than in its type, so every
 * `Database` stays a plain PrismaClient.
 */
const sqlPools = new WeakMap<PrismaClient, pg.Pool>();

/** Records `pool` as the pool under `db` (the one its adapter uses) and returns `db`. */
export function withSqlPool(db: PrismaClient, pool: pg.Pool): PrismaClient {
  sqlPools.set(db, pool);
  return db;
}

/** The pg pool under `db`, if it was made by createPrismaClient or given withSqlPool; else undefined. */
export function sqlPoolOf(db: PrismaClient): pg.Pool | undefined {
  return sqlPools.get(db);
}

/** Connections of the dispatcher's own pool (default): firing, deliveries' bookkeeping, heartbeats, the event hub. */
export const DISPATCH_POOL_SIZE = 4;

/**
 * The dispatcher's and the event hub's own small pool, apart from the API's: a storm of API
 * requests queues on the API's pool and cannot make a due reminder wait for a connection.
 */
export function createDispatchClient(databaseUrl: string, poolSize = DISPATCH_POOL_SIZE): PrismaClient {
  return createPrismaClient(databaseUrl, { poolSize, applicationName: 'tickler-dispatcher' });
}
