/**
 * GET /metrics of a real `node dist/server/main.js` (with its dispatcher) on a database of its own,
 * scraped before and after real activity: GraphQL requests and errors, a fired reminder delivered to
 * a webhook, an open subscription, a recovered claim and a lost LISTEN connection. Each figure must
 * move by what the test did (its own database: nothing else fires or connects there).
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { DEVELOPMENT_JWT_SECRET } from '../src/config.js';
import { createScratchDatabase, withPgClient } from './helpers/database.js';
import { eventually, startWebhookSink, type WebhookSink } from './helpers/sinks.js';
import { killSpawned, startServer, type ServerProcess } from './helpers/spawned-server.js';

type Samples = Map<string, number>;

/** Parses the text exposition format into `name{labels}` → value (labels as printed). */
function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

let scratch: { url: string; drop: () => Promise<void> };
let server: ServerProcess;
let sink: WebhookSink;
let token: string;

async function scrape(): Promise<Samples> {
  const response = await fetch(`${server.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parse(await response.text());
}

async function graphql(query: string, variables: Record<string, unknown> = {}, bearer: string | null = token): Promise<{ status: number; body: { data?: Record<string, unknown>; errors?: unknown[] } }> {
  const response = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] } };
}

const value = (samples: Samples, key: string) => samples.get(key) ?? 0;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  sink = await startWebhookSink();
  server = await startServer(
    { DATABASE_URL: scratch.url, WEBHOOK_ALLOW_LOOPBACK: 'true', DISPATCHER_HEARTBEAT_MS: '200', DISPATCHER_DEAD_AFTER_MS: '1000' },
    60_000,
  );
  await server.waitForLog('Tickler is ready', 60_000);
  token = await signToken(DEVELOPMENT_JWT_SECRET, `metrics-${randomUUID()}`);
}, 90_000);

afterAll(async () => {
  await killSpawned();
  await sink?.close();
  await scratch?.drop();
});

describe('GET /metrics', () => {
  it('moves every figure by what happened between two scrapes', { timeout: 90_000 }, async () => {
    const before = await scrape();
    expect(before.has('tickler_reminders_fired_total')).toBe(true);
    expect(before.has('process_cpu_user_seconds_total')).toBe(true);

    // GraphQL: two successful mutations, one domain error as data, one UNAUTHENTICATED (HTTP 401).
    const hook = sink.route('metrics');
    const endpoint = await graphql('mutation($url: String!) { createWebhookEndpoint(input: { url: $url }) { __typename } }', { url: hook });
    expect(endpoint.body.data).toEqual({ createWebhookEndpoint: { __typename: 'CreatedWebhookEndpoint' } });
    const past = await graphql('mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on Error { code } } }', {
      input: { title: 'late', deadline: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(past.body.data).toEqual({ createTask: { __typename: 'ScheduleError', code: 'DEADLINE_IN_PAST' } });
    expect((await graphql('{ viewer { id } }', {}, 'not-a-token')).status).toBe(401);

    // A live subscription on one socket.
    const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    const fired: unknown[] = [];
    const unsubscribe = client.subscribe({ query: 'subscription { reminderFired { id } }' }, { next: (result) => fired.push(result), error: () => undefined, complete: () => undefined });
    const open = await eventually('the subscription to be counted', async () => {
      const samples = await scrape();
      return value(samples, 'tickler_subscribers') === 1 ? samples : undefined;
    });
    expect(value(open, 'tickler_websocket_sockets')).toBe(1);

    // A reminder due in a second: fired, delivered to the webhook, seen by the subscription.
    const created = await graphql('mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename } }', {
      input: { title: 'soon', deadline: new Date(Date.now() + 3_600_000).toISOString(), reminders: [{ at: new Date(Date.now() + 1000).toISOString() }] },
    });
    expect(created.body.data).toEqual({ createTask: { __typename: 'CreateTaskSuccess' } });
    await eventually('the webhook delivery', () => (sink.requestsTo(hook).length > 0 ? true : undefined), 30_000);
    await eventually('the subscription event', () => (fired.length > 0 ? true : undefined), 30_000);

    // A delivery claimed by a dispatcher that does not exist: the next heartbeat hands it back.
    await withPgClient(async (pg) => {
      const { rows } = await pg.query<{ id: string; user_id: string }>(
        `SELECT e.id::text, e.user_id::text FROM events e ORDER BY e.id DESC LIMIT 1`,
      );
      const [event] = rows;
      await pg.query(
        `INSERT INTO deliveries (event_id, user_id, channel, status, attempt, claimed_by, claimed_at)
         VALUES ($1, $2, 'EMAIL', 'PROCESSING', 1, 'ghost-dispatcher', now())`,
        [event?.id, event?.user_id],
      );
    }, scratch.url);
    // The LISTEN connection dropped by the database: the listener reconnects.
    await withPgClient((pg) => pg.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tickler-listener'`), scratch.url);

    let last: Samples = new Map();
    const after = await eventually(
      'claims recovered and the listener reconnected',
      async () => {
        last = await scrape();
        return value(last, 'tickler_claims_recovered_total') >= 1 && value(last, 'tickler_listener_reconnects_total') >= 1 ? last : undefined;
      },
      30_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; claims recovered ${value(last, 'tickler_claims_recovered_total')}, reconnects ${value(last, 'tickler_listener_reconnects_total')}\n${server.output()}`);
    });
    const moved = (key: string) => value(after, key) - value(before, key);

    expect(moved('tickler_graphql_requests_total{operation_type="mutation",operation="createTask"}')).toBe(2);
    expect(moved('tickler_graphql_requests_total{operation_type="mutation",operation="createWebhookEndpoint"}')).toBe(1);
    expect(moved('tickler_graphql_request_duration_seconds_count{operation_type="mutation",operation="createTask"}')).toBe(2);
    expect(moved('tickler_graphql_errors_total{phase="context",code="UNAUTHENTICATED"}')).toBe(1);
    expect(moved('tickler_domain_errors_total{code="DEADLINE_IN_PAST"}')).toBe(1);
    expect(moved('tickler_reminders_fired_total')).toBe(1);
    expect(moved('tickler_reminder_lateness_seconds_count')).toBe(1);
    expect(moved('tickler_deliveries_total{channel="webhook",outcome="sent",attempt="1"}')).toBe(1);
    expect(moved('tickler_claims_recovered_total')).toBeGreaterThanOrEqual(1);
    expect(moved('tickler_listener_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'tickler_db_pool_connections{state="in_use"}') + value(after, 'tickler_db_pool_connections{state="idle"}')).toBeGreaterThan(0);
    expect(after.has('tickler_db_pool_connections{state="waiting"}')).toBe(true);

    unsubscribe();
    await client.dispose();
    const closed = await eventually('the socket to be gone', async () => {
      const samples = await scrape();
      return value(samples, 'tickler_websocket_sockets') === 0 ? samples : undefined;
    });
    expect(value(closed, 'tickler_subscribers')).toBe(0);
  });
});
