/**
 * Scenario `api`: the GraphQL API under HTTP load. The Tickler server runs in a process of its own
 * (bench/fixtures/server.ts: what `npm start` runs, with DISPATCHER=false, NODE_ENV=production, a
 * random 64-character JWT_SECRET, LOG_LEVEL=warn), the load generator (autocannon 8) in another,
 * 16 connections for a fixed duration (quick 5 s, full 20 s) per measurement, after a warm-up:
 *
 * (a) `createTask` with 3 reminders and a title unique to each request; every response is checked
 *     for CreateTaskSuccess, and the tasks and reminders that landed in the database are counted.
 * (b) a nested read, `tasks(first: 50) { edges { node { id title deadline reminders { id triggerAt } } } }`,
 *     for a user with 60 tasks of 3 reminders each; then the same read from PostGraphile 4 over the
 *     same database (`allTasks(first: 50, condition: {ownerId})` with `remindersByTaskId`), once
 *     anonymous and once verifying a bearer token (jwtSecret), each alone in a process of its own.
 *
 * Per request, besides throughput and latency: SQL statements and their execution time from
 * pg_stat_statements (this database only, by dbid), and the server process's CPU time (/proc).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signToken } from '../../src/auth/tokens.js';
import { withClient } from '../lib/database.js';
import type { Table } from '../lib/report.js';
import { startFixture, type FixtureProcess } from '../lib/server-process.js';
import { assertClean, autocannon, baseEnv, CONNECTIONS, CREATE_TASK, createTaskInput, createTaskOrThrow, graphql, REMINDERS_PER_TASK, type LoadRequest, type LoadResult } from '../lib/load.js';
import { ms, num, ratioHigherIsBetter, ratioLowerIsBetter } from '../lib/stats.js';
import type { BenchContext, Scenario } from '../lib/context.js';

const SEEDED_TASKS = 60;
const PAGE = 50;

// ---------------------------------------------------------------------------------------------
// pg_stat_statements

interface StatementCount {
  query: string;
  calls: number;
  /** Total execution time in PostgreSQL, milliseconds. */
  execMs: number;
}

/** Calls per statement in the database at `url` (excluding these very reads of pg_stat_statements). */
async function statementCounts(url: string): Promise<Map<string, StatementCount>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ key: string; query: string; calls: string; exec_ms: number }>(
      `SELECT userid::text || ':' || queryid::text || ':' || toplevel::text AS key, query, calls::text, total_exec_time AS exec_ms
       FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query NOT LIKE '%pg_stat_statements%'`,
    );
    return new Map(rows.map((row) => [row.key, { query: row.query, calls: Number(row.calls), execMs: Number(row.exec_ms) }]));
  });
}

interface StatementDelta {
  total: number;
  execMs: number;
  /** Busiest statements first. */
  byStatement: StatementCount[];
}

function statementDelta(before: Map<string, StatementCount>, after: Map<string, StatementCount>): StatementDelta {
  const byStatement: StatementCount[] = [];
  for (const [key, entry] of after) {
    const previous = before.get(key);
    const calls = entry.calls - (previous?.calls ?? 0);
    if (calls > 0) byStatement.push({ query: entry.query, calls, execMs: entry.execMs - (previous?.execMs ?? 0) });
  }
  byStatement.sort((a, b) => b.calls - a.calls || b.execMs - a.execMs);
  return {
    total: byStatement.reduce((sum, entry) => sum + entry.calls, 0),
    execMs: byStatement.reduce((sum, entry) => sum + entry.execMs, 0),
    byStatement,
  };
}

/** "BEGIN ×1.00, INSERT INTO "public"."tasks" ... ×1.00, ..." */
function describeStatements(delta: StatementDelta, requests: number, limit = 8): string {
  const shown = delta.byStatement.slice(0, limit).map((entry) => {
    const text = entry.query.replace(/\s+/g, ' ').trim();
    const short = text.length > 70 ? `${text.slice(0, 67)}...` : text;
    return `\`${short.replace(/`/g, "'")}\` ×${(entry.calls / requests).toFixed(2)}`;
  });
  const rest = delta.byStatement.length - limit;
  return `${shown.join('; ')}${rest > 0 ? `; and ${rest} more` : ''}`;
}

const TICKLER_READ = `query BenchTasks { tasks(first: ${PAGE}) { edges { node { id title deadline reminders { id triggerAt } } } } }`;

interface TicklerReadData {
  tasks: { edges: Array<{ node: { id: string; title: string; deadline: string; reminders: Array<{ id: string; triggerAt: string }> } }> };
}

const POSTGRAPHILE_READ =
  `query BenchAllTasks($owner: UUID!) { allTasks(first: ${PAGE}, condition: { ownerId: $owner }, orderBy: [DEADLINE_ASC, PRIMARY_KEY_ASC]) ` +
  `{ edges { node { id title deadline remindersByTaskId(orderBy: [TRIGGER_AT_ASC, PRIMARY_KEY_ASC]) { nodes { id triggerAt } } } } } }`;

interface PostGraphileReadData {
  allTasks: { edges: Array<{ node: { id: string; title: string; deadline: string; remindersByTaskId: { nodes: Array<{ id: string; triggerAt: string }> } } }> };
}

/** Title, deadline and reminder times of each task, in order: what both APIs must agree on. */
type Page = Array<{ title: string; deadline: number; reminders: number[] }>;

function assertSamePage(tickler: Page, anchor: Page, label: string): void {
  const a = JSON.stringify(tickler);
  const b = JSON.stringify(anchor);
  if (a !== b) throw new Error(`${label} returned other data than Tickler:\n  tickler ${a.slice(0, 300)}\n  ${label} ${b.slice(0, 300)}`);
  if (tickler.length !== PAGE || tickler.some((task) => task.reminders.length !== REMINDERS_PER_TASK)) {
    throw new Error(`expected ${PAGE} tasks of ${REMINDERS_PER_TASK} reminders, got ${a.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------

interface Measured {
  load: LoadResult;
  statements: StatementDelta;
  /** What the statements and CPU time are divided by. */
  requests: number;
  /** CPU time of the server process during the measurement. */
  serverCpuMs: number;
}

const pause = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/**
 * One measurement: warm-up requests, then the timed run, with pg_stat_statements and the server's CPU
 * time read around it. `hooks.requestsRun` says how many requests the server executed (default: the
 * requests autocannon sent; those cut off at the end still finish on the server).
 */
async function measure(
  databaseUrl: string,
  server: FixtureProcess,
  request: LoadRequest,
  durationS: number,
  warmupRequests: number,
  hooks: { beforeRun?: () => Promise<void>; requestsRun?: () => Promise<number> } = {},
): Promise<Measured> {
  await autocannon(request, { amount: warmupRequests });
  await hooks.beforeRun?.();
  const before = await statementCounts(databaseUrl);
  const cpuBefore = await server.cpuMs();
  const load = await autocannon(request, { durationS });
  // Requests in flight when autocannon stopped still finish on the server: let them, then count.
  await pause(500);
  const cpuAfter = await server.cpuMs();
  const after = await statementCounts(databaseUrl);
  assertClean(request.url, load);
  return {
    load,
    statements: statementDelta(before, after),
    requests: hooks.requestsRun ? await hooks.requestsRun() : load.requests.sent,
    serverCpuMs: cpuAfter - cpuBefore,
  };
}

async function run(context: BenchContext): Promise<Table[]> {
  const durationS = context.size(5, 20);
  const warmup = context.size(200, 1000);
  const databaseUrl = await context.server.createTicklerDatabase();
  await withClient(databaseUrl, (client) => client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
  const secret = randomBytes(32).toString('hex');
  const writerSubject = `bench-api-writer-${randomUUID()}`;
  const readerSubject = `bench-api-reader-${randomUUID()}`;
  const writerToken = await signToken(secret, writerSubject, { expiresIn: '2h' });
  const readerToken = await signToken(secret, readerSubject, { expiresIn: '2h' });
  // PostGraphile checks the audience ("postgraphile" unless configured); Tickler ignores it when JWT_AUDIENCE is unset.
  const postgraphileToken = await signToken(secret, readerSubject, { expiresIn: '2h', audience: 'postgraphile' });

  let server: FixtureProcess | undefined;
  let anchor: FixtureProcess | undefined;
  try {
    server = await startFixture({
      label: 'tickler server',
      script: 'bench/fixtures/server.ts',
      env: {
        ...baseEnv(),
        DATABASE_URL: databaseUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        DISPATCHER: 'false',
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
    const ticklerUrl = `http://127.0.0.1:${String(server.ready.port)}/graphql`;

    // The reader: SEEDED_TASKS tasks, deadlines one hour apart, 3 reminders each.
    const firstDeadline = Date.now() + 7 * 24 * 3600 * 1000;
    for (let index = 0; index < SEEDED_TASKS; index++) {
      await createTaskOrThrow(ticklerUrl, readerToken, createTaskInput(`read task ${String(index).padStart(3, '0')}`, new Date(firstDeadline + index * 3600_000)));
    }
    const readerId = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ id: string }>('SELECT id FROM users WHERE subject = $1', [readerSubject]);
      if (!rows[0]) throw new Error('the reader user was not created');
      return rows[0].id;
    });

    // (a) createTask. A probe first: the mutation must answer CreateTaskSuccess, not a typed error.
    await createTaskOrThrow(ticklerUrl, writerToken, createTaskInput('probe task', new Date(Date.now() + 2 * 24 * 3600 * 1000)));
    const createBody = JSON.stringify({
      query: CREATE_TASK.replace(/\s+/g, ' ').trim(),
      variables: { input: createTaskInput('bench task [<id>]', new Date(Date.now() + 3 * 24 * 3600 * 1000)) },
    });
    const countWriterRows = () =>
      withClient(databaseUrl, async (client) => {
        const { rows } = await client.query<{ tasks: string; reminders: string }>(
          `SELECT count(DISTINCT t.id)::text AS tasks, count(r.id)::text AS reminders
           FROM tasks t JOIN users u ON u.id = t.owner_id LEFT JOIN reminders r ON r.task_id = t.id
           WHERE u.subject = $1`,
          [writerSubject],
        );
        return { tasks: Number(rows[0]?.tasks ?? 0), reminders: Number(rows[0]?.reminders ?? 0) };
      });
    let rowsBefore = { tasks: 0, reminders: 0 };
    let rowsAfter = { tasks: 0, reminders: 0 };
    const create = await measure(
      databaseUrl,
      server,
      { url: ticklerUrl, token: writerToken, body: createBody, uniqueIds: true, expect: '"__typename":"CreateTaskSuccess"' },
      durationS,
      warmup,
      {
        beforeRun: async () => {
          rowsBefore = await countWriterRows();
        },
        // Statements and CPU per task actually created.
        requestsRun: async () => {
          rowsAfter = await countWriterRows();
          return rowsAfter.tasks - rowsBefore.tasks;
        },
      },
    );
    const created = create.requests;
    const remindersCreated = rowsAfter.reminders - rowsBefore.reminders;
    // Every 2xx answered CreateTaskSuccess (checked in the load process) and must be a task in the
    // database; requests cut off when autocannon stopped may have created one more each.
    if (created < create.load['2xx'] || created > create.load.requests.sent || remindersCreated !== created * REMINDERS_PER_TASK) {
      throw new Error(
        `createTask: ${create.load['2xx']} 2xx responses of ${create.load.requests.sent} sent, but ${created} tasks and ${remindersCreated} reminders were created`,
      );
    }

    // (b) the nested read, from Tickler.
    const ticklerPage = await graphql<TicklerReadData>(ticklerUrl, readerToken, TICKLER_READ);
    const readBody = JSON.stringify({ query: TICKLER_READ });
    const ticklerRead = await measure(databaseUrl, server, { url: ticklerUrl, token: readerToken, body: readBody, expect: '{"data":{"tasks":{"edges":[{' }, durationS, warmup);
    await server.stop();
    server = undefined;

    // The same read from PostGraphile 4, anonymous and then with JWT verification, each alone.
    const anchors: Array<{ label: string; measured: Measured }> = [];
    for (const variant of [
      { label: 'PostGraphile 4', jwt: false },
      { label: 'PostGraphile 4 + JWT', jwt: true },
    ]) {
      anchor = await startFixture({
        label: variant.label,
        script: 'bench/fixtures/postgraphile.ts',
        env: { ...baseEnv(), DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', ...(variant.jwt ? { JWT_SECRET: secret } : {}) },
      });
      const anchorUrl = `http://127.0.0.1:${String(anchor.ready.port)}/graphql`;
      const token = variant.jwt ? postgraphileToken : undefined;
      const anchorPage = await graphql<PostGraphileReadData>(anchorUrl, token, POSTGRAPHILE_READ, { owner: readerId });
      assertSamePage(
        ticklerPage.tasks.edges.map(({ node }) => ({ title: node.title, deadline: Date.parse(node.deadline), reminders: node.reminders.map((r) => Date.parse(r.triggerAt)) })),
        anchorPage.allTasks.edges.map(({ node }) => ({
          title: node.title,
          deadline: Date.parse(node.deadline),
          reminders: node.remindersByTaskId.nodes.map((r) => Date.parse(r.triggerAt)),
        })),
        variant.label,
      );
      const body = JSON.stringify({ query: POSTGRAPHILE_READ, variables: { owner: readerId } });
      const measured = await measure(databaseUrl, anchor, { url: anchorUrl, token, body, expect: '{"data":{"allTasks":{"edges":[{' }, durationS, warmup);
      anchors.push({ label: variant.label, measured });
      await anchor.stop();
      anchor = undefined;
    }

    return [createTable(context, create, durationS), readTable(context, ticklerRead, anchors, durationS)];
  } finally {
    await anchor?.stop();
    await server?.stop();
  }
}

const LOAD_NOTE = (context: BenchContext, durationS: number) =>
  `autocannon 8 (its API, in a load process of its own): ${CONNECTIONS} connections, ${durationS} s (${context.mode} mode) after ${context.size(200, 1000)} warm-up requests`;

function createTable(context: BenchContext, create: Measured, durationS: number): Table {
  const { load, statements, requests: created } = create;
  return {
    title: 'API: createTask with 3 reminders under load',
    notes: [
      `Tickler server in its own process (bench/fixtures/server.ts = \`npm start\` with DISPATCHER=false, NODE_ENV=production, LOG_LEVEL=warn, Prisma pool of 10); ` +
        `${LOAD_NOTE(context, durationS)}; each request a \`createTask\` with 3 relative reminders and a title unique to the request, with an HS256 bearer token.`,
      `Checked: every one of the ${num(load['2xx'])} responses was HTTP 200 with CreateTaskSuccess (no errors, no typed error), and ${num(created)} tasks ` +
        `with ${REMINDERS_PER_TASK} reminders each landed in the database (the extra ${num(created - load['2xx'])} were in flight when the load stopped).`,
      `Per task created: server CPU ${ms(create.serverCpuMs / created)}, SQL execution ${ms(statements.execMs / created)} (pg_stat_statements total_exec_time); ` +
        `statements (pg_stat_statements, this database only): ${describeStatements(statements, created)}. ` +
        'Of the three SELECTs, one is Prisma reading the created task back inside the transaction; the other two (the task again, then its reminders) ' +
          'come after the commit, from Pothos loading the selection `task { id reminders { id } }` afresh because the mutation resolves to a bare Task ' +
          '(selecting only scalar fields of the task costs 5 statements, not 7).',
      'No anchor: the PostGraphile runs below are read-only (disableDefaultMutations), and a CRUD insert of a task and then of each reminder is not the same all-or-nothing operation.',
    ],
    columns: ['Measure', 'Tickler'],
    rows: [
      ['requests/s', num(load.requests.average)],
      ['latency p50', ms(load.latency.p50)],
      ['latency p99', ms(load.latency.p99)],
      ['latency max', ms(load.latency.max)],
      ['SQL statements per request', num(statements.total / created, 2)],
      ['server CPU per request', ms(create.serverCpuMs / created)],
    ],
  };
}

function readTable(context: BenchContext, tickler: Measured, anchors: Array<{ label: string; measured: Measured }>, durationS: number): Table {
  const statementsPerRequest = (measured: Measured) => measured.statements.total / measured.requests;
  const cpuPerRequest = (measured: Measured) => measured.serverCpuMs / measured.requests;
  const sqlPerRequest = (measured: Measured) => measured.statements.execMs / measured.requests;
  const columns = ['Measure', 'Tickler'];
  for (const anchor of anchors) columns.push(anchor.label, `Tickler vs ${anchor.label}`);
  const row = (label: string, pick: (measured: Measured) => number, format: (value: number) => string, higherIsBetter: boolean) => {
    const cells = [label, format(pick(tickler))];
    for (const anchor of anchors) {
      const value = pick(anchor.measured);
      cells.push(format(value), higherIsBetter ? ratioHigherIsBetter(pick(tickler), value) : ratioLowerIsBetter(pick(tickler), value));
    }
    return cells;
  };
  const notes = [
    `The same ${PAGE} tasks with ${REMINDERS_PER_TASK} reminders each (of a user with ${SEEDED_TASKS}), same database; each server alone, in its own process, with a pool of 10 connections; ` +
      `${LOAD_NOTE(context, durationS)}; every response checked (HTTP 200, data, no errors).`,
    `Tickler: \`tasks(first: ${PAGE}) { edges { node { id title deadline reminders { id triggerAt } } } }\` with an HS256 bearer token (verified on every request; the user id is cached after the first).`,
    `PostGraphile 4.14 (graphql 15, NODE_ENV=production): postgraphile(url, 'public', { disableDefaultMutations, disableQueryLog, dynamicJson, ignoreRBAC: false, legacyRelations: 'omit', setofFunctionsContainNulls: false }) on node:http, ` +
      `\`allTasks(first: ${PAGE}, condition: { ownerId }, orderBy: [DEADLINE_ASC, PRIMARY_KEY_ASC]) { edges { node { id title deadline remindersByTaskId(orderBy: [TRIGGER_AT_ASC, PRIMARY_KEY_ASC]) { nodes { id triggerAt } } } } }\`; ` +
      'its answer was checked to hold the same titles, deadlines and reminder times as Tickler\'s. ' +
      '"PostGraphile 4" serves anonymous requests (no authentication at all); "PostGraphile 4 + JWT" adds jwtSecret and verifies the same kind of HS256 token, ' +
      'which makes it run each request in a transaction that first loads the claims with set_config().',
    'Server CPU = user + system time of the server process (/proc/<pid>/stat) during the run; SQL execution = pg_stat_statements total_exec_time; both per request.',
    `Statements per request (pg_stat_statements, this database only): Tickler ${describeStatements(tickler.statements, tickler.requests)}.`,
    ...anchors.map((anchor) => `${anchor.label}: ${describeStatements(anchor.measured.statements, anchor.measured.requests)}.`),
  ];
  const ticklerRps = tickler.load.requests.average;
  const ahead = anchors.filter((anchor) => anchor.measured.load.requests.average > ticklerRps);
  if (ahead.length > 0) {
    const cpu = ahead.map((anchor) => `${ms(cpuPerRequest(anchor.measured))} for ${anchor.label}`).join(', ');
    notes.push(
      `Where Tickler loses (${ahead.map((anchor) => anchor.label).join(', ')}): its server process spent ${ms(cpuPerRequest(tickler))} of CPU per request against ${cpu}. ` +
        'PostGraphile compiles the whole selection into one SQL statement that builds the nested JSON inside PostgreSQL, leaving less to do in Node; ' +
        `Tickler runs ${num(statementsPerRequest(tickler), 0)} queries (tasks, then all their reminders in one batch: no N+1) and turns ${PAGE * (1 + REMINDERS_PER_TASK)} rows into objects, ` +
        'Relay global ids and DateTime strings in Node, through Yoga, Pothos and Prisma, plus a JWT verification per request. ' +
        'With 2 cores shared by the server, PostgreSQL and the load generator, that CPU is the throughput.',
    );
  }
  return {
    title: 'API: nested read (50 tasks with their reminders) under load',
    notes,
    columns,
    rows: [
      row('requests/s', (measured) => measured.load.requests.average, (value) => num(value), true),
      row('latency p50', (measured) => measured.load.latency.p50, ms, false),
      row('latency p99', (measured) => measured.load.latency.p99, ms, false),
      row('latency max', (measured) => measured.load.latency.max, ms, false),
      row('SQL statements per request', statementsPerRequest, (value) => num(value, 2), false),
      row('SQL execution per request', sqlPerRequest, ms, false),
      row('server CPU per request', cpuPerRequest, ms, false),
    ],
  };
}

export const scenario: Scenario = {
  key: 'api',
  title: 'API: createTask and a nested read under HTTP load',
  run,
};
