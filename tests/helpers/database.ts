import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** Refuses anything but a database made for tests, so a stray DATABASE_URL can never be wiped. */
export function testDatabaseUrl(): string {
  const url = inject('databaseUrl');
  const name = new URL(url).pathname.slice(1);
  if (!name.includes('test')) throw new Error(`refusing to run tests against database "${name}"`);
  return url;
}

/** Runs `fn` with a plain pg connection to the test database (for checks below the API). */
export async function withPgClient<T>(fn: (client: pg.Client) => Promise<T>, url = testDatabaseUrl()): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty scratch database for a test that needs its own (migrations), and returns its
 * URL and a function that drops it.
 */
export async function createScratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('adminUrl');
  const name = `tickler_test_scratch_${randomBytes(4).toString('hex')}`;
  await withPgClient((client) => client.query(`CREATE DATABASE "${name}"`), adminUrl);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withPgClient((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`), adminUrl).then(() => undefined),
  };
}

/** How many tasks the user with this token subject owns, read straight from the database. */
export async function taskCount(user: { subject: string }): Promise<number> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ count: string }>(
      'SELECT count(*) FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1',
      [user.subject],
    );
    return Number(rows[0]?.count);
  });
}
