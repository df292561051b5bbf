import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Database = PrismaClient;

export interface DatabaseOptions {
  /** Connections in the pool; the API and the dispatcher share it. */
  poolSize?: number;
}

export function createPrismaClient(databaseUrl: string, options: DatabaseOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // A statement that runs this long is a bug or a lock pile-up; fail it rather than hang a request.
    statement_timeout: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  return new PrismaClient({ adapter });
}
