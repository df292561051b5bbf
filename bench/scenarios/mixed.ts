/**
 * Mixed load: one Tickler server process (bench/fixtures/server.ts: what `npm start` runs, API and
 * dispatcher in one process) fires scheduled reminders while autocannon drives `createTask` at it
 * as fast as it answers. Issue 7 (item 5): API load must not delay firing; the dispatcher has to keep
 * its reminders on time while sharing the process (and, before v2, the pool) with the API.
 *
 * Two passes on the same server: the schedule alone (at rest, same process), then the same kind of
 * schedule with the load running through the whole window. Lateness from the database: the commit
 * time of each reminder's event minus its trigger time (bench/lib/fires.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signToken } from '../../src/auth/tokens.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { firesAfterWindow, latenessOf } from '../lib/fires.js';
import { assertClean, autocannon, baseEnv, CONNECTIONS, CREATE_TASK, createTaskInput, createTaskOrThrow, type LoadResult } from '../lib/load.js';
import type { Table } from '../lib/report.js';
import { startFixture, type FixtureProcess } from '../lib/server-process.js';
import { distribution, ms, num, type Distribution } from '../lib/stats.js';
import { seedReminders } from '../lib/tickler.js';

const LEAD_MS = 3000;

interface Pass {
  lateness: Distribution;
  fired: number;
  expected: number;
}

/** Seeds `count` reminders (a user of their own) spread over the window and waits for them to fire. */
async function schedule(url: string, count: number, windowMs: number, during?: (startAtMs: number) => Promise<void>): Promise<Pass> {
  const base = Date.now() + LEAD_MS;
  const seeded = await seedReminders(url, Array.from({ length: count }, () => base + Math.floor(Math.random() * windowMs)));
  await during?.(base);
  const fires = await firesAfterWindow(url, seeded.ownerId, base + windowMs);
  return { lateness: distribution(latenessOf(fires)), fired: fires.filter((fire) => fire.events > 0).length, expected: count };
}

async function run(context: BenchContext): Promise<Table[]> {
  const count = context.size(500, 3_000);
  const windowMs = context.size(8_000, 30_000);
  const url = await context.server.createTicklerDatabase();
  const secret = randomBytes(32).toString('hex');
  const token = await signToken(secret, `bench-mixed-writer-${randomUUID()}`, { expiresIn: '2h' });
  let server: FixtureProcess | undefined;
  try {
    server = await startFixture({
      label: 'tickler server (API + dispatcher)',
      script: 'bench/fixtures/server.ts',
      env: {
        ...baseEnv(),
        DATABASE_URL: url,
        PORT: '0',
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        JWT_SECRET: secret,
        // One user creates tasks at the server's full rate: the per-user quotas would stop it.
        MUTATIONS_PER_MINUTE: '0',
        MAX_ACTIVE_TASKS_PER_USER: '0',
        LOG_LEVEL: 'warn',
        MIGRATE_ON_START: 'false',
        GRAPHIQL: 'false',
      },
    });
    const apiUrl = `http://127.0.0.1:${String(server.ready.port)}/graphql`;
    await createTaskOrThrow(apiUrl, token, createTaskInput('probe task', new Date(Date.now() + 2 * 24 * 3600 * 1000)));
    const request = {
      url: apiUrl,
      token,
      body: JSON.stringify({
        query: CREATE_TASK.replace(/\s+/g, ' ').trim(),
        variables: { input: createTaskInput('mixed task [<id>]', new Date(Date.now() + 3 * 24 * 3600 * 1000)) },
      }),
      uniqueIds: true,
      expect: '"__typename":"CreateTaskSuccess"',
    };
    await autocannon(request, { amount: context.size(200, 1000) });

    const atRest = await schedule(url, count, windowMs);
    let load: LoadResult | undefined;
    const underLoad = await schedule(url, count, windowMs, async (startAtMs) => {
      // The load covers the whole window: from before the first trigger time to after the last.
      const durationS = Math.ceil((startAtMs - Date.now() + windowMs + 1000) / 1000);
      load = await autocannon(request, { durationS });
    });
    if (!load) throw new Error('the load did not run');
    assertClean(apiUrl, load);
    const finished = load;
    const yes = (ok: boolean) => (ok ? 'met' : 'MISSED');
    return [
      {
        title: `Mixed load: ${num(count)} scheduled reminders over ${ms(windowMs)} while the same process serves createTask at full rate`,
        notes: [
          'One Tickler server process as `npm start` runs it (NODE_ENV=production, API and dispatcher in one process, default settings; the per-user quotas on mutations and active tasks are off, as one bench user creates every task). ' +
            `Reminders of one user (stored in bulk ${ms(LEAD_MS)} before the window) with trigger times drawn uniformly at random over the window. ` +
            'First pass: the schedule alone. Second pass: the same with autocannon 8 (a load process of its own, ' +
            `${CONNECTIONS} connections, each sending its next request as soon as the previous one answered) sending \`createTask\` with 3 reminders for another user through the whole window.`,
          'Lateness = commit time of the reminder\'s event (pg_xact_commit_timestamp) minus its trigger time, database clock.',
          `Load: ${num(finished.requests.total)} createTask answered, all CreateTaskSuccess (checked per response); ${num(finished.requests.average)} requests/s, ` +
            `latency p50 ${ms(finished.latency.p50)}, p99 ${ms(finished.latency.p99)}.`,
          'Target (issue 7): scheduled lateness p99 under 50 ms under that load.',
        ],
        columns: ['', 'at rest (same process)', 'under createTask load', 'target'],
        rows: [
          ['lateness p50', ms(atRest.lateness.p50), ms(underLoad.lateness.p50), ''],
          ['lateness p99', ms(atRest.lateness.p99), ms(underLoad.lateness.p99), `< 50 ms: ${yes(underLoad.lateness.p99 < 50)}`],
          ['lateness max', ms(atRest.lateness.max), ms(underLoad.lateness.max), ''],
          ['fired / expected', `${num(atRest.fired)} / ${num(atRest.expected)}`, `${num(underLoad.fired)} / ${num(underLoad.expected)}`, ''],
          ['createTask requests/s', '', num(finished.requests.average), ''],
        ],
      },
    ];
  } finally {
    await server?.stop();
  }
}

export const scenario: Scenario = { key: 'mixed', title: 'Mixed load', run };
