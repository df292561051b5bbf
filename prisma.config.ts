import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection string from here, not from schema.prisma. Only the Prisma CLI
// uses this file (`prisma migrate deploy` / `prisma migrate status` for users who have the engine);
// Tickler itself resolves its database in src/config.ts and applies migrations with src/db/migrate.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
});
