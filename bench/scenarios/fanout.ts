/**
 * Scenario `fanout`: live subscriptions at scale. N graphql-ws clients (full 10,000, quick 200, or
 * FANOUT_CLIENTS), one
 * per user, each subscribed to `reminderFired`, against one Tickler server in a process of its own
 * (bench/fixtures/server.ts: `npm start` with its in-process dispatcher, NODE_ENV=production). The
 * clients run in the bench process. Then one reminder per user falls due, at most EVENTS_PER_SECOND
 * of them per second (so 10,000 clients take 10 s), and every client records when its event arrived.
 *
 * Open files: each client holds one socket in the bench process and one in the server, which
 * inherits the bench process's limit. Node cannot raise its own limit, so run the benchmark from a
 * shell that did: `ulimit -n 20000 && npm run bench` (up to the hard limit, `ulimit -Hn`; root may
 * raise that too). The scenario checks the limit first and says what it needs.
 *
 * Reported: delivery lateness (arrival at the client minus the reminder's trigger time) and its
 * two parts (firing: the event's occurredAt minus the trigger time; fan-out: arrival minus
 * occurredAt), and the server's memory per connection: RSS (from /proc) and V8 heap (the fixture's
 * process.memoryUsage() after a full GC) before and after the clients connected and subscribed.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/tokens.js';
import { withClient } from '../lib/database.js';
import type { Table } from '../lib/report.js';
import { openFilesLimit, startFixture, type FixtureMessage, type FixtureProcess } from '../lib/server-process.js';
import { distribution, ms, num } from '../lib/stats.js';
import type { BenchContext, Scenario } from '../lib/context.js';

/** Clients opening their socket at once. */
const CONNECT_CONCURRENCY = 50;
/** The first reminder falls due this long after they are all inserted... */
const LEAD_MS = 2000;
/**
 * ...and they keep falling due at this rate. It is a fan-out test, not a firing one: a dispatcher fires
 * about 4,000 a second at best on 2 cores (see `throughput`), and the clients share those cores.
 */
const EVENTS_PER_SECOND = 1000;
/** After the last trigger time, how long to wait for stragglers before giving up on them. */
const DELIVERY_TIMEOUT_MS = 30_000;
/** How long after start the server's RSS is steady enough for a baseline. */
const SETTLE_AFTER_START_MS = 12_000;
/** Sockets are not the only open files: PostgreSQL connections, the server's own, node's. */
const SPARE_FILES = 512;

const SUBSCRIPTION = `subscription BenchReminderFired { reminderFired { id reminderId triggerAt occurredAt } }`;

interface FiredPayload {
  reminderFired: { id: string; reminderId: string; triggerAt: string; occurredAt: string };
}

interface Receipt {
  receivedAt: number;
  triggerAt: number;
  occurredAt: number;
}

interface Subscriber {
  client: Client;
  receipts: Receipt[];
  errors: string[];
}

const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(describeError).join('; ');
  if (typeof error === 'object' && error !== null && 'code' in error && 'reason' in error) {
    return `socket closed ${String((error as { code: unknown }).code)} ${String((error as { reason: unknown }).reason)}`;
  }
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}

/** Opens one socket, waits for connection_ack, subscribes. */
async function connectSubscriber(wsUrl: string, token: string): Promise<Subscriber> {
  let connected!: () => void;
  let failed!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    connected = resolve;
    failed = reject;
  });
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    keepAlive: 0,
    onNonLazyError: (error) => failed(new Error(`could not connect: ${describeError(error)}`)),
    on: { connected: () => connected() },
  });
  const timer = setTimeout(() => failed(new Error('no connection_ack within 30 s')), 30_000);
  try {
    await ready;
  } catch (error) {
    await client.dispose();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const subscriber: Subscriber = { client, receipts: [], errors: [] };
  client.subscribe<FiredPayload>(
    { query: SUBSCRIPTION },
    {
      next: (result) => {
        const receivedAt = Date.now();
        const event = result.data?.reminderFired;
        if (!event) {
          subscriber.errors.push(`no data: ${JSON.stringify(result.errors ?? result)}`);
          return;
        }
        subscriber.receipts.push({ receivedAt, triggerAt: Date.parse(event.triggerAt), occurredAt: Date.parse(event.occurredAt) });
      },
      error: (error) => subscriber.errors.push(describeError(error)),
      complete: () => undefined,
    },
  );
  return subscriber;
}

/** Connects `tokens.length` subscribers, CONNECT_CONCURRENCY at a time; disposes them all if one fails. */
async function connectAll(wsUrl: string, tokens: readonly string[]): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(CONNECT_CONCURRENCY, tokens.length) }, async () => {
        while (next < tokens.length) {
          const token = tokens[next++] as string;
          subscribers.push(await connectSubscriber(wsUrl, token));
        }
      }),
    );
  } catch (error) {
    await disposeAll(subscribers);
    throw error;
  }
  return subscribers;
}

async function disposeAll(subscribers: readonly Subscriber[]): Promise<void> {
  await Promise.allSettled(subscribers.map((subscriber) => subscriber.client.dispose()));
}

interface MemorySample {
  rss: number;
  heapUsed: number;
}

/**
 * RSS from /proc and the heap after a full GC, as the server reports it on SIGUSR2. Twice, half a
 * second apart, keeping the second: the first collection's freed pages take a moment to be returned.
 */
async function sampleMemory(server: FixtureProcess): Promise<MemorySample> {
  let message: FixtureMessage | undefined;
  for (let round = 0; round < 2; round++) {
    if (round > 0) await sleep(500);
    server.signal('SIGUSR2');
    message = await server.nextMessage('memory', 10_000);
  }
  if (message?.gc !== true) throw new Error('the server fixture ran without --expose-gc');
  return { rss: await server.rssBytes(), heapUsed: Number(message.heapUsed) };
}

/**
 * With FANOUT_HEAP_SNAPSHOTS=<dir>, the server writes a V8 heap snapshot there (fanout-<n>-<pid>.heapsnapshot)
 * before and after the clients connect, to compare what each connection retains (Chrome DevTools'
 * Memory tab, comparison view). Off by default: a snapshot of thousands of sockets takes seconds.
 */
async function heapSnapshot(server: FixtureProcess, label: string): Promise<void> {
  if (!process.env.FANOUT_HEAP_SNAPSHOTS) return;
  server.signal('SIGWINCH');
  const message = await server.nextMessage('heap-snapshot', 300_000);
  console.log(`fanout: heap snapshot ${label}: ${String(message.path)}`);
}

/** The 1-minute load average: on a shared machine, what else was running changes every figure here. */
async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ')[0] ?? '?';
}

const kib = (bytes: number) => `${num(bytes / 1024, 1)} KiB`;
const mib = (bytes: number) => `${num(bytes / 2 ** 20, 1)} MiB`;

/**
 * The client count: FANOUT_CLIENTS when set (e.g. 2000, to measure memory per connection without
 * the full 10,000), else 200 in quick mode and 10,000 in full mode.
 */
function clientCount(context: BenchContext): number {
  const wanted = process.env.FANOUT_CLIENTS;
  if (wanted === undefined || wanted === '') return context.size(200, 10_000);
  const parsed = Number(wanted);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`FANOUT_CLIENTS must be a positive integer, not ${JSON.stringify(wanted)}`);
  return parsed;
}

async function run(context: BenchContext): Promise<Table[]> {
  const count = clientCount(context);
  const windowMs = Math.max(1000, Math.ceil((count / EVENTS_PER_SECOND) * 1000));
  const filesLimit = await openFilesLimit();
  if (filesLimit < count + SPARE_FILES) {
    throw new Error(
      `${count} WebSocket clients need an open-files limit of at least ${count + SPARE_FILES} in the bench process and the server ` +
        `(it is ${filesLimit}): run \`ulimit -n ${count + SPARE_FILES}\` (or more, up to \`ulimit -Hn\`) in the shell first`,
    );
  }
  const databaseUrl = await context.server.createTicklerDatabase();
  const secret = randomBytes(32).toString('hex');

  // One user per client, each with one active task; the reminders come later, once everyone listens.
  const prefix = `bench-fanout-${randomBytes(3).toString('hex')}`;
  const users = await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ subject: string; task_id: string }>(
      `WITH u AS (
         INSERT INTO users (subject) SELECT $1 || '-' || g FROM generate_series(1, $2::int) g RETURNING id, subject
       ), t AS (
         INSERT INTO tasks (owner_id, title, deadline) SELECT id, 'fanout ' || subject, now() + interval '1 day' FROM u RETURNING id, owner_id
       )
       SELECT u.subject, t.id AS task_id FROM u JOIN t ON t.owner_id = u.id ORDER BY u.subject`,
      [prefix, count],
    );
    return rows;
  });
  const tokens = await Promise.all(users.map((user) => signToken(secret, user.subject, { expiresIn: '2h' })));

  let server: FixtureProcess | undefined;
  let subscribers: Subscriber[] = [];
  try {
    server = await startFixture({
      label: 'tickler server',
      script: 'bench/fixtures/server.ts',
      nodeFlags: ['--expose-gc'],
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        DISPATCHER: 'true',
        NODE_ENV: 'production',
        JWT_SECRET: secret,
        JWT_JWKS_URL: '',
        JWT_ISSUER: '',
        JWT_AUDIENCE: '',
        SMTP_URL: '',
        LOG_LEVEL: 'warn',
        MIGRATE_ON_START: 'false',
        GRAPHIQL: 'false',
        BENCH_HEAP_SNAPSHOT_DIR: process.env.FANOUT_HEAP_SNAPSHOTS ?? '',
        BENCH_CPU_PROFILE_DIR: process.env.FANOUT_CPU_PROFILE ?? '',
      },
    });
    const readyAt = Date.now();
    const wsUrl = `ws://127.0.0.1:${String(server.ready.port)}/graphql`;

    // Warm-up: the first sockets load and compile the WebSocket and subscription code paths.
    await disposeAll(await connectAll(wsUrl, tokens.slice(0, Math.min(10, count))));
    // A freshly started server gives back 20-30 MiB of RSS some 6-7 s after start, once, whatever
    // the load (start-up code and memory released by V8): measure the baseline after that.
    await sleep(Math.max(1000, readyAt + SETTLE_AFTER_START_MS - Date.now()));
    const before = await sampleMemory(server);
    await heapSnapshot(server, 'before');

    const connectStarted = Date.now();
    subscribers = await connectAll(wsUrl, tokens);
    const connectMs = Date.now() - connectStarted;
    // Subscriptions register on the server a moment after the client sent them; let them settle.
    await sleep(Math.min(3000, Math.max(1000, count / 3)));
    const after = await sampleMemory(server);
    await heapSnapshot(server, 'after');

    // One reminder per user, trigger times spread evenly over the window, starting LEAD_MS from now.
    const firstTrigger = Date.now() + LEAD_MS;
    const triggerTimes = users.map((_, index) => new Date(firstTrigger + Math.floor((index * windowMs) / count)));
    await withClient(databaseUrl, (client) =>
      client.query('INSERT INTO reminders (task_id, trigger_at) SELECT * FROM unnest($1::uuid[], $2::timestamptz[])', [
        users.map((user) => user.task_id),
        triggerTimes,
      ]),
    );
    // With FANOUT_CPU_PROFILE=<dir>: the server's CPU profile of the delivery window alone (firing and fan-out).
    if (process.env.FANOUT_CPU_PROFILE) server.signal('SIGTTIN');
    const loadBefore = await loadAverage();
    // CPU time is what a loaded machine does not change much: the server's and the clients' share of the window.
    const serverCpuBefore = await server.cpuMs();
    const clientCpuBefore = process.cpuUsage();
    const giveUpAt = firstTrigger + windowMs + DELIVERY_TIMEOUT_MS;
    while (Date.now() < giveUpAt && subscribers.some((subscriber) => subscriber.receipts.length === 0 && subscriber.errors.length === 0)) {
      await sleep(50);
    }
    const loadAfter = await loadAverage();
    if (process.env.FANOUT_CPU_PROFILE) {
      server.signal('SIGTTIN');
      console.log(`fanout: CPU profile of the delivery window: ${String((await server.nextMessage('cpu-profile', 60_000)).path)}`);
    }
    const serverCpuMs = (await server.cpuMs()) - serverCpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
    const receipts = subscribers.flatMap((subscriber) => subscriber.receipts);
    const missing = subscribers.filter((subscriber) => subscriber.receipts.length === 0).length;
    const duplicates = subscribers.filter((subscriber) => subscriber.receipts.length > 1).length;
    const errors = subscribers.flatMap((subscriber) => subscriber.errors);
    if (receipts.length === 0) throw new Error(`no client received its event within ${DELIVERY_TIMEOUT_MS / 1000} s; errors: ${errors.slice(0, 3).join('; ') || 'none'}`);

    const delivery = distribution(receipts.map((receipt) => receipt.receivedAt - receipt.triggerAt));
    const firing = distribution(receipts.map((receipt) => receipt.occurredAt - receipt.triggerAt));
    const fanout = distribution(receipts.map((receipt) => receipt.receivedAt - receipt.occurredAt));
    const rssPerClient = (after.rss - before.rss) / count;
    const heapPerClient = (after.heapUsed - before.heapUsed) / count;

    const notes = [
      `${num(count)} graphql-ws clients (${context.mode} mode), one per user, each authenticated in connection_init and subscribed to \`reminderFired\`, ` +
        `connected ${CONNECT_CONCURRENCY} at a time to one Tickler server in its own process (bench/fixtures/server.ts = \`npm start\`: NODE_ENV=production, ` +
        'dispatcher in the same process with its default settings, on its own small pool); the clients run in the bench process.',
      `Then one reminder per user was inserted, due ${LEAD_MS / 1000} s later and spread evenly over ${windowMs / 1000} s (${EVENTS_PER_SECOND} a second at most). ` +
        'Lateness = arrival at the client minus the trigger time (same machine clock); firing = the event\'s occurredAt (fired_at) minus the trigger time; fan-out = arrival minus occurredAt.',
      `Delivered ${num(receipts.length)} of ${num(count)} events; ${missing} missing after ${DELIVERY_TIMEOUT_MS / 1000} s, ${duplicates} clients got more than one, ${errors.length} subscription errors` +
        `${errors.length > 0 ? ` (first: ${errors[0]})` : ''}. Load average (1 min) when the reminders were inserted / after the last arrived: ${loadBefore} / ${loadAfter} on ${cpus().length} cores.`,
      `Memory: the server's RSS (from /proc/<pid>/status) and V8 heap (process.memoryUsage() after a full GC; the server runs with --expose-gc) ` +
        `${SETTLE_AFTER_START_MS / 1000} s after the server started and after a warm-up of 10 sockets, then after all ${num(count)} clients connected and subscribed; ` +
        `the difference divided by the client count. Open files allowed (\`ulimit -n\`, inherited by the server): ${num(filesLimit)}. ` +
        'RSS moves by a few MiB on its own, so with few clients (quick mode) its per-connection figure is mostly noise; the heap figure is steadier.',
      'No anchor: Hasura and PostGraphile subscriptions were not run here (no comparable setup in this benchmark), so there is no ratio.',
    ];
    return [
      {
        title: `Subscriptions fan-out: ${num(count)} clients, one reminder each`,
        notes,
        columns: ['Measure', 'Tickler'],
        rows: [
          ['delivery lateness p50', ms(delivery.p50)],
          ['delivery lateness p99', ms(delivery.p99)],
          ['delivery lateness max', ms(delivery.max)],
          ['  of which firing p50 / p99', `${ms(firing.p50)} / ${ms(firing.p99)}`],
          ['  of which fan-out p50 / p99', `${ms(fanout.p50)} / ${ms(fanout.p99)}`],
          ['events delivered', `${num(receipts.length)} / ${num(count)}`],
          [`connect + subscribe ${num(count)} clients`, ms(connectMs)],
          ['server RSS before / after', `${mib(before.rss)} / ${mib(after.rss)}`],
          ['server RSS per connection', kib(rssPerClient)],
          ['server heap per connection', kib(heapPerClient)],
          ['server CPU per event (fire + fan-out)', `${(serverCpuMs / Math.max(1, receipts.length)).toFixed(2)} ms`],
          ['clients\' CPU per event (bench process)', `${(clientCpuMs / Math.max(1, receipts.length)).toFixed(2)} ms`],
        ],
      },
    ];
  } finally {
    await disposeAll(subscribers);
    await server?.stop();
  }
}

export const scenario: Scenario = {
  key: 'fanout',
  title: 'Subscriptions fan-out',
  run,
};
