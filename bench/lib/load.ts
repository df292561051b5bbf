/**
 * HTTP load for the benchmarks: autocannon 8 (its API) in a load process of its own, every answer
 * checked; and small GraphQL helpers for probes and seeding from the bench process (the load itself
 * always comes from autocannon). Used by the api and mixed scenarios.
 */
import { runTool } from './server-process.js';

/** Connections autocannon keeps open (each sends its next request when the previous one answered). */
export const CONNECTIONS = 16;
/** Reminders in each task createTaskInput() describes. */
export const REMINDERS_PER_TASK = 3;

// ---------------------------------------------------------------------------------------------
// autocannon, in its own process
//
// Not the CLI: a unique title per request needs its `--idReplacement`, and autocannon 8.0.0 then
// declares a Content-Length for 33-character ids while the hyperid it ships (3.3) makes 24 to 28
// characters, so every such request hangs until the server times it out. The load process below
// runs autocannon's API instead, with `setupRequest` numbering the requests, and `onResponse`
// checking each answer for an expected marker (e.g. "CreateTaskSuccess").

/** The parts of autocannon's result used here, plus what the load process checked. */
export interface LoadResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  latency: { p50: number; p99: number; max: number; average: number };
  requests: { average: number; total: number; sent: number };
  /** Responses that were not HTTP 200 with `expect` and without "errors" in the body. */
  unexpected: number;
  firstUnexpected: string | null;
}

export interface LoadRequest {
  url: string;
  /** Sent as a bearer token; no Authorization header when absent. */
  token?: string;
  body: string;
  /** Replace `[<id>]` in the body with a number unique to each request. */
  uniqueIds?: boolean;
  /** Every response must be HTTP 200, contain this string and no "errors". */
  expect: string;
}

/** Runs in `node --input-type=module -e` (the repository root as cwd); its configuration comes in BENCH_LOAD. */
const LOAD_PROCESS = `
import autocannon from 'autocannon';
const config = JSON.parse(process.env.BENCH_LOAD);
let sequence = 0;
let unexpected = 0;
let firstUnexpected = null;
const [head, ...tail] = config.body.split('[<id>]');
const request = {
  method: 'POST',
  headers: config.headers,
  body: config.body,
  onResponse: (status, body) => {
    if (status === 200 && typeof body === 'string' && body.includes(config.expect) && !body.includes('"errors"')) return;
    unexpected += 1;
    firstUnexpected ??= status + ' ' + String(body).slice(0, 500);
  },
};
if (config.uniqueIds) request.setupRequest = (req) => ({ ...req, body: head + tail.map((part) => 'r' + (sequence++) + part).join('') });
const options = { url: config.url, connections: config.connections, timeout: 30, requests: [request] };
if (config.amount) options.amount = config.amount; else options.duration = config.durationS;
const result = await autocannon(options);
process.stdout.write(JSON.stringify({ ...result, unexpected, firstUnexpected }) + '\\n');
`;

export async function autocannon(request: LoadRequest, run: { durationS?: number; amount?: number; connections?: number }): Promise<LoadResult> {
  const config = {
    url: request.url,
    connections: run.connections ?? CONNECTIONS,
    durationS: run.durationS,
    amount: run.amount,
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
    },
    body: request.body,
    uniqueIds: request.uniqueIds ?? false,
    expect: request.expect,
  };
  const timeoutMs = ((run.durationS ?? 60) + 60) * 1000;
  const result = await runTool(process.execPath, ['--input-type=module', '-e', LOAD_PROCESS], {
    timeoutMs,
    env: { ...process.env, BENCH_LOAD: JSON.stringify(config) },
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !line.startsWith('{')) {
    throw new Error(`load process failed (code ${result.code}, signal ${result.signal}): ${result.stderr.slice(-2000)} ${result.stdout.slice(-500)}`);
  }
  return JSON.parse(line) as LoadResult;
}

export function assertClean(label: string, result: LoadResult): void {
  if (result['2xx'] === 0) throw new Error(`${label}: no 2xx responses at all (${JSON.stringify(result)})`);
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || result.unexpected > 0) {
    throw new Error(
      `${label}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts, ` +
        `${result.unexpected} unexpected answers (first: ${result.firstUnexpected ?? 'none'}) of ${result.requests.sent} requests`,
    );
  }
}


// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP from the bench process (probes and seeding only; the load comes from autocannon)

export interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string }>;
}

export async function graphql<T>(url: string, token: string | undefined, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLBody<T>;
  if (!response.ok || body.errors?.length || !body.data) {
    throw new Error(`GraphQL request to ${url} failed (HTTP ${response.status}): ${JSON.stringify(body).slice(0, 1000)}`);
  }
  return body.data;
}

export const CREATE_TASK = /* GraphQL */ `
  mutation BenchCreateTask($input: CreateTaskInput!) {
    createTask(input: $input) {
      __typename
      ... on CreateTaskSuccess { task { id reminders { id } } }
      ... on Error { code message }
    }
  }
`;

export interface CreateTaskData {
  createTask: { __typename: string; task?: { id: string; reminders: Array<{ id: string }> }; code?: string; message?: string };
}

export function createTaskInput(title: string, deadline: Date): Record<string, unknown> {
  return {
    title,
    deadline: deadline.toISOString(),
    reminders: [{ secondsBeforeDeadline: 3600 }, { secondsBeforeDeadline: 7200 }, { secondsBeforeDeadline: 86_400 }],
  };
}

export async function createTaskOrThrow(url: string, token: string, input: Record<string, unknown>): Promise<void> {
  const data = await graphql<CreateTaskData>(url, token, CREATE_TASK, { input });
  if (data.createTask.__typename !== 'CreateTaskSuccess' || data.createTask.task?.reminders.length !== REMINDERS_PER_TASK) {
    throw new Error(`createTask did not succeed: ${JSON.stringify(data.createTask)}`);
  }
}


/** The environment for a Tickler server fixture, without anything of the caller's configuration. */
export function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // Nothing of the caller's Tickler or database configuration may leak into the systems under test.
  for (const name of ['DATABASE_URL', 'JWT_SECRET', 'JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'SMTP_URL', 'PORT', 'HOST', 'DISPATCHER', 'NODE_ENV']) {
    delete env[name];
  }
  return env;
}

