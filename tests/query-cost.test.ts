/**
 * What one GraphQL document may cost (issue 8, items 1-3), against a real server on the test
 * database whose token verifier and database client count what they are asked to do:
 *
 * 1. Fragments are measured once: the 21-level doubling-fragment document is refused in time linear
 *    in its size (a 23-level one, 128 times more expansions than 16 levels, costs about as little), before
 *    the token is verified, before any SQL; a /health request sent alongside is not held up.
 * 2. Lists are weighed by their size: four aliases of nested `tasks(first: 100) { … reminders … }`
 *    and 75 aliases of `tasks(first: 100) { description }` are refused by cost, on HTTP and graphql-ws.
 * 3. The standard introspection query passes, over HTTP and graphql-ws, and codegen against the
 *    live URL prints the committed schema. Introspection and "Did you mean" hints follow the
 *    configured policy (off in production unless enabled).
 */
import { generate } from '@graphql-codegen/cli';
import { PrismaPg } from '@prisma/adapter-pg';
import { Lexer, Source, TokenKind, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTokenVerifier } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { PgListener } from '../src/db/listener.js';
import { readMigrations } from '../src/db/migrate.js';
import { EventHub } from '../src/events/hub.js';
import { PrismaClient } from '../src/generated/prisma/client.js';
import type { GraphQLPolicy } from '../src/graphql/limits.js';
import { printSortedSchema } from '../src/graphql/schema.js';
import { createTicklerServer } from '../src/server/app.js';
import { testDatabaseUrl } from './helpers/database.js';
import { TEST_JWT_SECRET, inSeconds, newUser, type TestUser } from './helpers/server.js';

interface CountingServer {
  url: string;
  base: string;
  wsUrl: string;
  /** SQL statements the server's database client sent, and tokens it verified, since start. */
  counts: { sql: number; tokens: number };
  stop(): Promise<void>;
}

/** A real server whose Prisma client logs every statement and whose verifier counts tokens. */
async function startCountingServer(policy?: GraphQLPolicy): Promise<CountingServer> {
  const databaseUrl = testDatabaseUrl();
  const counts = { sql: 0, tokens: 0 };
  const db = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 4 }), log: [{ emit: 'event', level: 'query' }] });
  db.$on('query', () => {
    counts.sql += 1;
  });
  const listener = new PgListener(databaseUrl);
  const events = new EventHub(db, listener);
  await events.start();
  const verify = createTokenVerifier({ secret: TEST_JWT_SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined });
  const server = createTicklerServer({
    db,
    events,
    webhookPolicy: { allowPrivate: false, allowLoopback: true },
    verifyToken: (token) => {
      counts.tokens += 1;
      return verify(token);
    },
    migrationNames: (await readMigrations()).map((migration) => migration.name),
    graphiql: false,
    ...(policy ? { graphqlPolicy: policy } : {}),
  });
  const address = await server.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${address.port}/graphql`,
    base: `http://127.0.0.1:${address.port}`,
    wsUrl: `ws://127.0.0.1:${address.port}/graphql`,
    counts,
    stop: async () => {
      await server.close(1000);
      await events.stop();
      await listener.close();
      await db.$disconnect();
    },
  };
}

interface Answer {
  status: number;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  ms: number;
}

async function post(url: string, token: string | null, query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Answer['body'];
  return { status: response.status, body, ms: performance.now() - started };
}

/** One graphql-ws operation's result: its data or the errors it was refused with. */
async function overSocket(
  wsUrl: string,
  token: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ data?: unknown; errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> }> {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
  try {
    return await new Promise((resolve) => {
      let result: { data?: unknown; errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> } = {};
      client.subscribe(
        { query, ...(variables ? { variables } : {}) },
        {
          next: (value) => {
            result = { data: value.data ?? undefined, ...(value.errors ? { errors: value.errors } : {}) };
          },
          error: (error) => resolve({ errors: Array.isArray(error) ? (error as Array<{ message: string }>) : [{ message: String(error) }] }),
          complete: () => resolve(result),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

/** `query{...F0} fragment F0 on Query{...F1 ...F1} … fragment F<n-1> on Query{__typename}`: 2^(n-1) expansions. */
function doublingFragments(levels: number): string {
  let document = 'query{...F0}';
  for (let level = 0; level < levels - 1; level += 1) document += ` fragment F${level} on Query{...F${level + 1} ...F${level + 1}}`;
  return `${document} fragment F${levels - 1} on Query{__typename}`;
}

const FOUR_NESTED_ALIASES = `query{${[1, 2, 3, 4]
  .map((alias) => `a${alias}: tasks(first:100){edges{node{reminders{task{reminders{task{reminders{id}}}}}}}}`)
  .join(' ')}}`;
const SEVENTY_FIVE_ALIASES = `query{${Array.from({ length: 75 }, (_, alias) => `a${alias}: tasks(first:100){edges{node{description}}}`).join(' ')}}`;

function tokenCount(document: string): number {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count += 1;
  return count;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

let server: CountingServer;
let user: TestUser;

beforeAll(async () => {
  server = await startCountingServer();
  user = await newUser('cost');
});
afterAll(async () => {
  await server?.stop();
});

describe('fragments are measured once (item 1)', () => {
  it('refuses the 21-level doubling-fragment document by cost, before the token is verified and before any SQL', async () => {
    const before = { ...server.counts };
    const withToken = await post(server.url, user.token, doublingFragments(21));
    const anonymous = await post(server.url, null, doublingFragments(21));
    for (const answer of [withToken, anonymous]) {
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors).toEqual([
        expect.objectContaining({ message: 'Query complexity of 1048576 exceeds max complexity of 25000', extensions: expect.objectContaining({ code: 'QUERY_COMPLEXITY' }) }),
      ]);
    }
    expect(server.counts).toEqual(before);

    // The same shape two levels shallower is within budget: the limit is a number, not a ban on fragments.
    const shallow = await post(server.url, null, doublingFragments(11));
    expect(shallow.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('costs time linear in the document, not in its expansions: 23 levels (2^22 spreads) is refused about as fast as 16 (2^15)', async () => {
    const times = { small: [] as number[], huge: [] as number[] };
    for (let round = 0; round < 5; round += 1) {
      const small = await post(server.url, null, doublingFragments(16));
      const huge = await post(server.url, null, doublingFragments(23));
      expect(small.body.errors?.[0]?.message).toBe('Query complexity of 32768 exceeds max complexity of 25000');
      expect(huge.body.errors?.[0]?.message).toBe('Query complexity of 4194304 exceeds max complexity of 25000');
      times.small.push(small.ms);
      times.huge.push(huge.ms);
    }
    // The huge document is 1.4 times longer; re-expanding fragments at every spread would make it 128 times slower.
    expect(median(times.huge)).toBeLessThan(10 * median(times.small));
  });

  it('does not hold up /health sent alongside a burst of such documents', async () => {
    const health = async () => {
      const started = performance.now();
      const response = await fetch(`${server.base}/health`);
      expect(response.status).toBe(200);
      await response.text();
      return performance.now() - started;
    };
    const baseline: number[] = [];
    for (let round = 0; round < 7; round += 1) baseline.push(await health());
    // A reference refusal whose cost does not depend on fragments at all.
    const trivialRefusal: number[] = [];
    for (let round = 0; round < 7; round += 1) trivialRefusal.push((await post(server.url, null, '{ nope }')).ms);

    // /health polled for as long as a burst of three 21-level documents is in flight: the slowest answer.
    let slowest = 0;
    for (let round = 0; round < 3; round += 1) {
      let inFlight = true;
      const burst = Promise.all(Array.from({ length: 3 }, () => post(server.url, null, doublingFragments(21)))).finally(() => {
        inFlight = false;
      });
      do slowest = Math.max(slowest, await health());
      while (inFlight);
      for (const answer of await burst) expect(answer.body.errors?.[0]?.extensions?.code).toBe('QUERY_COMPLEXITY');
    }
    // Re-expanding fragments blocked the event loop for seconds per document; measured once, a document
    // costs a few times a trivial refusal.
    expect(slowest).toBeLessThan(20 * median(baseline) + 50 * median(trivialRefusal));
  });
});

describe('document shape (graphql-armor)', () => {
  /** `tasks(filter: { status: [ACTIVE ACTIVE …] })`: one token per list item, so any length can be made. */
  const withTokens = (count: number) => {
    const document = (items: number) => `{ tasks(first: 1, filter: { status: [${' ACTIVE'.repeat(items)} ] }) { edges { cursor } } }`;
    const fixed = tokenCount(document(0));
    const result = document(count - fixed);
    expect(tokenCount(result)).toBe(count);
    return result;
  };

  it('refuses a document of 2,001 tokens while it is being lexed, and takes one of 2,000', async () => {
    const before = { ...server.counts };
    const tooLong = await post(server.url, user.token, withTokens(2001));
    expect(tooLong.body.data).toBeUndefined();
    expect(tooLong.body.errors?.map((error) => error.message)).toEqual(['Syntax Error: Token limit of 2000 exceeded.']);
    expect(server.counts).toEqual(before);
    const fresh = await newUser('tokens');
    const atLimit = await post(server.url, fresh.token, withTokens(2000));
    expect(atLimit.body).toEqual({ data: { tasks: { edges: [] } } });
  });

  it('refuses more than 50 directives', async () => {
    const directives = (count: number) => `{${Array.from({ length: count }, (_, index) => ` f${index}: __typename @include(if: true)`).join('')} }`;
    expect((await post(server.url, null, directives(51))).body.errors?.map((error) => error.message)).toEqual(['Directives limit of 50 exceeded, found 51.']);
    expect((await post(server.url, null, directives(50))).body.errors).toBeUndefined();
  });
});

describe('lists are weighed by their size (item 2)', () => {
  it('refuses four aliases of nested tasks(first: 100) { … reminders { task { reminders … } } } before any SQL', async () => {
    const created = await post(server.url, user.token, 'mutation($input: CreateTaskInput!){ createTask(input: $input){ __typename } }', {
      input: { title: 'weighed', deadline: inSeconds(3600) },
    });
    expect(created.body).toEqual({ data: { createTask: { __typename: 'CreateTaskSuccess' } } });
    const before = { ...server.counts };
    const answer = await post(server.url, user.token, FOUR_NESTED_ALIASES);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: 'Query complexity of 6771204 exceeds max complexity of 25000' })]);
    expect(server.counts).toEqual(before);
  });

  it('refuses 75 aliases of tasks(first: 100) { … description }, and takes 20 of them', async () => {
    const before = { ...server.counts };
    const answer = await post(server.url, user.token, SEVENTY_FIVE_ALIASES);
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: 'Query complexity of 90075 exceeds max complexity of 25000' })]);
    expect(server.counts).toEqual(before);
    // 20 × 1,201 = 24,020: within budget.
    const twenty = `query{${Array.from({ length: 20 }, (_, alias) => `a${alias}: tasks(first:100){edges{node{description}}}`).join(' ')}}`;
    expect((await post(server.url, user.token, twenty)).body.errors).toBeUndefined();
  });

  it('weighs `first` given as a variable: 100 with reminders is within budget, the same shape under 20 aliases is not', async () => {
    const one = 'query($n: Int){ tasks(first: $n){ edges { node { id title description reminders { id triggerAt } } } } }';
    const ok = await post(server.url, user.token, one, { n: 100 });
    expect(ok.body.errors).toBeUndefined();
    const aliased = `query($n: Int){ ${Array.from({ length: 20 }, (_, alias) => `a${alias}: tasks(first: $n){ edges { node { id title description reminders { id triggerAt } } } }`).join(' ')} }`;
    const before = { ...server.counts };
    // 1 + 100 × (1 + 1 + 1 + 1 + 10 + (1 + 25 × 2)) = 6,501 per alias.
    const refused = await post(server.url, user.token, aliased, { n: 100 });
    expect(refused.body.errors).toEqual([expect.objectContaining({ message: 'Query complexity of 130020 exceeds max complexity of 25000' })]);
    expect(server.counts).toEqual(before);
    // The same text with a small page passes: the cost follows the variable, not a cached verdict on the text.
    const small = await post(server.url, user.token, aliased, { n: 1 });
    expect(small.body.errors).toBeUndefined();
  });

  it('refuses the same documents over graphql-ws, before any SQL', async () => {
    const first = await overSocket(server.wsUrl, user.token, 'query { viewer { id } }');
    expect(first.errors).toBeUndefined();
    const before = { ...server.counts };
    const fragments = await overSocket(server.wsUrl, user.token, doublingFragments(21));
    expect(fragments.errors?.map((error) => error.message)).toEqual(['Query complexity of 1048576 exceeds max complexity of 25000']);
    const nested = await overSocket(server.wsUrl, user.token, FOUR_NESTED_ALIASES);
    expect(nested.errors?.map((error) => error.message)).toEqual(['Query complexity of 6771204 exceeds max complexity of 25000']);
    // Opening a socket verifies its token once (and may look the user up); the refusals add nothing.
    expect(server.counts.sql).toBe(before.sql + 0);
    expect(server.counts.tokens).toBe(before.tokens + 2);
  });
});

describe('introspection (item 3)', () => {
  it("passes graphql-js's standard introspection query over HTTP and graphql-ws", async () => {
    const http = await post(server.url, null, getIntrospectionQuery());
    expect(http.body.errors).toBeUndefined();
    expect(http.status).toBe(200);
    const full = await post(
      server.url,
      null,
      getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }),
    );
    expect(full.body.errors).toBeUndefined();
    const socket = await overSocket(server.wsUrl, user.token, getIntrospectionQuery());
    expect(socket.errors).toBeUndefined();
    expect(socket.data).toEqual(http.body.data);
  });

  it('codegen pointed at the live URL reads the schema that is committed', async () => {
    const [output] = await generate({ schema: server.url, generates: { 'live.graphql': { plugins: ['schema-ast'] } }, silent: true }, false);
    expect(output?.content).toBeDefined();
    expect(printSchema(lexicographicSortSchema(buildSchema(output?.content ?? '')))).toBe(printSortedSchema());
  });

  it('still refuses introspection nested to blow up (graphql-js MaxIntrospectionDepthRule)', async () => {
    const answer = await post(server.url, null, '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }');
    expect(answer.body.errors?.map((error) => error.message)).toEqual(['Maximum introspection depth exceeded']);
  });
});

describe('introspection and suggestions policy', () => {
  it('is off in production unless enabled, on elsewhere unless disabled', () => {
    const secret = 'a-production-secret-of-at-least-32-chars';
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).graphql).toEqual({ introspection: false, suggestions: false });
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, GRAPHQL_INTROSPECTION: 'true' }).graphql).toEqual({ introspection: true, suggestions: false });
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, GRAPHQL_SUGGESTIONS: 'true' }).graphql).toEqual({ introspection: false, suggestions: true });
    expect(loadConfig({}).graphql).toEqual({ introspection: true, suggestions: true });
    expect(loadConfig({ GRAPHQL_INTROSPECTION: 'false', GRAPHQL_SUGGESTIONS: 'false' }).graphql).toEqual({ introspection: false, suggestions: false });
  });

  it('a server with both off refuses __schema and __type, keeps __typename, and hides "Did you mean"', async () => {
    const closed = await startCountingServer({ introspection: false, suggestions: false });
    const before = { ...closed.counts };
    try {
      const schemaQuery = await post(closed.url, null, getIntrospectionQuery());
      expect(schemaQuery.body.data).toBeUndefined();
      expect(schemaQuery.body.errors?.[0]?.message).toBe('GraphQL introspection has been disabled, but the requested query contained the field "__schema".');
      const typeQuery = await post(closed.url, null, '{ __type(name: "Task") { name } }');
      expect(typeQuery.body.errors?.[0]?.message).toBe('GraphQL introspection has been disabled, but the requested query contained the field "__type".');
      expect((await post(closed.url, null, '{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });

      const typo = await post(closed.url, user.token, '{ tasks { edges { node { titel } } } }');
      expect(typo.body.errors?.map((error) => error.message)).toEqual(['Cannot query field "titel" on type "Task".']);
      const enumLiteral = await post(closed.url, user.token, '{ deliveries(status: [SENTT]) { edges { cursor } } }');
      expect(enumLiteral.body.errors?.map((error) => error.message)).toEqual(['Value "SENTT" does not exist in "DeliveryStatus" enum.']);
      const enumVariable = await post(closed.url, user.token, 'query($s: [DeliveryStatus!]) { deliveries(status: $s) { edges { cursor } } }', { s: ['SENTT'] });
      expect(enumVariable.body.errors?.map((error) => error.message)).toEqual([
        'Variable "$s" got invalid value "SENTT" at "s[0]"; Value "SENTT" does not exist in "DeliveryStatus" enum.',
      ]);
      expect(closed.counts).toEqual(before);
    } finally {
      await closed.stop();
    }
    // The default server (development) keeps the hint.
    const open = await post(server.url, user.token, '{ tasks { edges { node { titel } } } }');
    expect(open.body.errors?.map((error) => error.message)).toEqual(['Cannot query field "titel" on type "Task". Did you mean "title"?']);
    const enumHint = await post(server.url, user.token, '{ deliveries(status: [SENTT]) { edges { cursor } } }');
    expect(enumHint.body.errors?.map((error) => error.message)).toEqual(['Value "SENTT" does not exist in "DeliveryStatus" enum. Did you mean the enum value "SENT"?']);
  });
});

describe('an argument that cannot be read refuses the operation, never prices it at 0', () => {
  const thirty = Array.from({ length: 30 }, (_, alias) => `a${alias}: tasks(first:100){edges{node{description title}}}`).join(' ');
  const poisonedTasks = `query($s: TaskStatus = ACTIVE, $no: Boolean = false) { ${thirty} bad: tasks(first:1, filter:{status:[$s]}) @include(if:$no) { edges { cursor } } }`;
  const poisonedDeliveries = `query($s: DeliveryStatus = PENDING, $no: Boolean = false) { ${thirty} bad: deliveries(first:1, status:[$s]) @include(if:$no) { edges { cursor } } }`;

  it('refuses a null variable inside a list argument with VALIDATION naming the argument, before any SQL, over HTTP', async () => {
    const before = { ...server.counts };
    const tasks = await post(server.url, user.token, poisonedTasks, { s: null });
    expect(tasks.body.data).toBeUndefined();
    expect(tasks.body.errors).toEqual([
      expect.objectContaining({ message: expect.stringContaining('Cannot price this operation'), extensions: { code: 'VALIDATION', field: 'filter' } }),
    ]);
    const deliveries = await post(server.url, user.token, poisonedDeliveries, { s: null });
    expect(deliveries.body.errors).toEqual([
      expect.objectContaining({ message: expect.stringContaining('Cannot price this operation'), extensions: { code: 'VALIDATION', field: 'status' } }),
    ]);
    expect(server.counts.sql).toBe(before.sql);
    // The other side: a readable value prices the 30 aliases (30 × 1,201 + …) and refuses them by cost.
    const priced = await post(server.url, user.token, poisonedTasks, { s: 'ACTIVE' });
    expect(priced.body.errors?.[0]?.extensions?.code).toBe('QUERY_COMPLEXITY');
  });

  it('refuses it over graphql-ws too', async () => {
    const tasks = await overSocket(server.wsUrl, user.token, poisonedTasks, { s: null });
    expect(tasks.data).toBeUndefined();
    expect(tasks.errors?.map((error) => error.extensions?.code)).toEqual(['VALIDATION']);
    const deliveries = await overSocket(server.wsUrl, user.token, poisonedDeliveries, { s: null });
    expect(deliveries.errors?.map((error) => error.extensions?.code)).toEqual(['VALIDATION']);
  });

  it('keeps only the spec\'s error for a literal the spec refuses', async () => {
    const answer = await post(server.url, user.token, 'query { tasks(first:1, filter:{status:[SENTT]}) { edges { cursor } } }');
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: 'Value "SENTT" does not exist in "TaskStatus" enum.' })]);
  });
});

describe('variables are bounded before they are coerced', () => {
  it('refuses a list of 100,000 invalid items about as fast as one of 1,000, with VALIDATION, before any SQL', async () => {
    const document = 'query($a:[Int!]){__typename}';
    const timed = async (length: number): Promise<number> => {
      const samples: number[] = [];
      for (let round = 0; round < 3; round += 1) {
        const answer = await post(server.url, null, document, { a: Array<string>(length).fill('a') });
        expect(answer.body.errors).toEqual([
          { message: `variable $a is a list of ${length} items; at most 100 are allowed`, extensions: { code: 'VALIDATION', field: 'variables' } },
        ]);
        samples.push(answer.ms);
      }
      return median(samples);
    };
    const before = { ...server.counts };
    const small = await timed(1_000);
    const large = await timed(100_000);
    // 100 times the items: parsing the JSON body grows with it, coercing 100,000 errors (seconds) must not.
    expect(large).toBeLessThan(small * 40 + 200);
    expect(server.counts).toEqual(before);
  });

  it('takes a list of 100 and refuses 101; refuses more than 5,000 values in all; the same over graphql-ws', async () => {
    const document = 'query($a:[Int!]){ a: __typename }';
    expect((await post(server.url, null, 'query($a:[Int!]){ tasks(first: 1) { edges { cursor } } }', { a: Array<number>(100).fill(1) })).body.errors?.[0]?.extensions?.code).not.toBe('VALIDATION');
    const refused = await post(server.url, null, document, { a: Array<number>(101).fill(1) });
    expect(refused.body.errors?.[0]?.message).toBe('variable $a is a list of 101 items; at most 100 are allowed');
    const wide = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`v${index}`, Array<number>(100).fill(1)]));
    const many = await post(server.url, null, document, wide);
    expect(many.body.errors?.[0]).toEqual({ message: 'variables hold more than 5000 values', extensions: { code: 'VALIDATION', field: 'variables' } });
    const socket = await overSocket(server.wsUrl, user.token, document, { a: Array<string>(1_000).fill('a') });
    expect(socket.errors).toEqual([
      expect.objectContaining({ message: 'variable $a is a list of 1000 items; at most 100 are allowed', extensions: { code: 'VALIDATION', field: 'variables' } }),
    ]);
  });
});

describe('list arguments are bounded and deduplicated', () => {
  it('a status list of 40,000 is refused with VALIDATION (tasks and deliveries); 100 repeats of one status answer like one', async () => {
    const tasks = 'query($s: [TaskStatus!]) { tasks(first: 5, filter: { status: $s }) { edges { cursor } } }';
    const deliveries = 'query($s: [DeliveryStatus!]) { deliveries(first: 5, status: $s) { edges { cursor } } }';
    for (const [document, value] of [
      [tasks, 'ACTIVE'],
      [deliveries, 'PENDING'],
    ] as const) {
      const huge = await post(server.url, user.token, document, { s: Array<string>(40_000).fill(value) });
      expect(huge.body.errors).toEqual([
        { message: 'variable $s is a list of 40000 items; at most 100 are allowed', extensions: { code: 'VALIDATION', field: 'variables' } },
      ]);
      const repeated = await post(server.url, user.token, document, { s: Array<string>(100).fill(value) });
      const once = await post(server.url, user.token, document, { s: [value] });
      expect(repeated.body.errors).toBeUndefined();
      expect(repeated.body).toEqual(once.body);
    }
  });
});

describe('introspection fields are counted', () => {
  const S = 'fragment S on __Type { name fields { name type { name ofType { name } } } }';
  it('refuses two aliases of __schema (or __schema and __type) with QUERY_INTROSPECTION, takes one', async () => {
    const two = await post(server.url, null, `{ a: __schema { types { ...S } } b: __schema { types { ...S } } } ${S}`);
    expect(two.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'QUERY_INTROSPECTION' } })]);
    const mixed = await post(server.url, null, `{ __schema { types { name } } __type(name: "Task") { name } }`);
    expect(mixed.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'QUERY_INTROSPECTION' } })]);
    const one = await post(server.url, null, `{ a: __schema { types { ...S } } } ${S}`);
    expect(one.body.errors).toBeUndefined();
    const socket = await overSocket(server.wsUrl, user.token, `{ a: __type(name: "Task") { name } b: __type(name: "Task") { name } }`);
    expect(socket.errors?.map((error) => error.extensions?.code)).toEqual(['QUERY_INTROSPECTION']);
  });
});
