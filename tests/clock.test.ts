/**
 * One clock (issue 7, item 6): "in the past", "more than 10 years ahead" and "has the token
 * expired" are judged by the database's clock. Three real server processes run against one database: one with a correct
 * clock, one 90 s behind and one 90 s ahead (a preloaded module shifts Date.now and `new Date`).
 * The same requests, with times 30 s either side of each boundary, get the same verdicts from all
 * three, and the refused ones write nothing.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { testDatabaseUrl, withPgClient } from './helpers/database.js';
import { spawnServerProcess, type ServerProcess } from './helpers/server-process.js';
import { TEST_JWT_SECRET } from './helpers/server.js';

const SHIFT_CLOCK = path.resolve(import.meta.dirname, 'fixtures/shift-clock.mjs');

async function post(server: ServerProcess, token: string, query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, Record<string, unknown>>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return Object.values(body.data ?? {})[0] ?? {};
}

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename ... on CreateTaskSuccess { task { id } } ... on Error { code } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { __typename ... on Error { code } } }`;
const ADD = `mutation($taskId: ID!, $reminder: ReminderInput!) { addReminder(taskId: $taskId, reminder: $reminder) { __typename ... on Error { code } } }`;

/** Verdicts of one server on times relative to the real (database) clock, with 30 s margins. */
async function verdicts(server: ServerProcess): Promise<{ verdicts: Record<string, string>; subject: string }> {
  const subject = `clock-${randomUUID()}`;
  const token = await signToken(TEST_JWT_SECRET, subject);
  const at = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
  const tenYears = (seconds: number) => {
    const date = new Date();
    date.setUTCFullYear(date.getUTCFullYear() + 10);
    return new Date(date.getTime() + seconds * 1000).toISOString();
  };
  const code = (result: Record<string, unknown>) => String(result.code ?? result.__typename);
  const create = async (deadline: string, reminders: unknown[] = []) => post(server, token, CREATE, { input: { title: 'clock', deadline, reminders } });

  const result: Record<string, string> = {};
  result['deadline 30 s ago'] = code(await create(at(-30)));
  result['deadline in 30 s'] = code(await create(at(30)));
  result['reminder 30 s ago'] = code(await create(at(3600), [{ at: at(-30) }]));
  result['reminder in 30 s'] = code(await create(at(3600), [{ at: at(30) }]));
  result['relative reminder landing 30 s ago'] = code(await create(at(3600), [{ secondsBeforeDeadline: 3630 }]));
  result['relative reminder landing in 30 s'] = code(await create(at(3600), [{ secondsBeforeDeadline: 3570 }]));
  result['deadline 10 years and 30 s ahead'] = code(await create(tenYears(30)));
  result['deadline 10 years less 30 s ahead'] = code(await create(tenYears(-30)));

  const task = (await create(at(3600))) as { task?: { id: string } };
  const taskId = task.task?.id ?? '';
  result['addReminder 30 s ago'] = code(await post(server, token, ADD, { taskId, reminder: { at: at(-30) } }));
  result['addReminder in 30 s'] = code(await post(server, token, ADD, { taskId, reminder: { at: at(30) } }));
  result['moving a deadline to 30 s ago'] = code(await post(server, token, UPDATE, { id: taskId, input: { deadline: at(-30) } }));
  result['moving a deadline to 10 years and 30 s ahead'] = code(await post(server, token, UPDATE, { id: taskId, input: { deadline: tenYears(30) } }));
  result['moving a deadline to in 60 s'] = code(await post(server, token, UPDATE, { id: taskId, input: { deadline: at(60) } }));

  // Tokens' exp, over HTTP and in a graphql-ws connection_init.
  const tokenExpiring = async (seconds: number) => signToken(TEST_JWT_SECRET, subject, { expiresIn: Math.floor(Date.now() / 1000) + seconds });
  const httpStatus = async (bearer: string) =>
    (await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: '{"query":"{ viewer { id } }"}' })).status;
  result['HTTP, token expired 30 s ago'] = String(await httpStatus(await tokenExpiring(-30)));
  result['HTTP, token expiring in 30 s'] = String(await httpStatus(await tokenExpiring(30)));
  result['socket, token expired 30 s ago'] = await socketVerdict(server, await tokenExpiring(-30));
  result['socket, token expiring in 30 s'] = await socketVerdict(server, await tokenExpiring(30));
  return { verdicts: result, subject };
}

/** What a graphql-ws connection_init with `token` gets: 'ack' or the close code. */
async function socketVerdict(server: ServerProcess, token: string): Promise<string> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { token } })));
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve('ack');
      });
      socket.once('close', (code) => resolve(String(code)));
      socket.once('error', reject);
    });
  } finally {
    socket.close();
  }
}

const EXPECTED = {
  'deadline 30 s ago': 'DEADLINE_IN_PAST',
  'deadline in 30 s': 'CreateTaskSuccess',
  'reminder 30 s ago': 'TRIGGER_IN_PAST',
  'reminder in 30 s': 'CreateTaskSuccess',
  'relative reminder landing 30 s ago': 'TRIGGER_IN_PAST',
  'relative reminder landing in 30 s': 'CreateTaskSuccess',
  'deadline 10 years and 30 s ahead': 'VALIDATION',
  'deadline 10 years less 30 s ahead': 'CreateTaskSuccess',
  'addReminder 30 s ago': 'TRIGGER_IN_PAST',
  'addReminder in 30 s': 'AddReminderSuccess',
  'moving a deadline to 30 s ago': 'DEADLINE_IN_PAST',
  'moving a deadline to 10 years and 30 s ahead': 'VALIDATION',
  'moving a deadline to in 60 s': 'UpdateTaskSuccess',
  'HTTP, token expired 30 s ago': '401',
  'HTTP, token expiring in 30 s': '200',
  'socket, token expired 30 s ago': '4403',
  'socket, token expiring in 30 s': 'ack',
};

describe('an API host whose clock is 90 s off', () => {
  it.each([
    ['correct', 0],
    ['90 s behind', -90_000],
    ['90 s ahead', 90_000],
  ])('gives the verdicts of the database clock with a clock that is %s', async (_name, offsetMs) => {
    const server = await spawnServerProcess(testDatabaseUrl(), { preload: [SHIFT_CLOCK], env: { TICKLER_CLOCK_OFFSET_MS: String(offsetMs) } });
    // The shift is real: the process stamps its own log lines with its (wrong) clock.
    const listening = server.logs().find((line) => line.msg === 'Tickler is listening');
    const skew = new Date(String(listening?.time)).getTime() - Date.now();
    expect(Math.abs(skew - offsetMs)).toBeLessThan(30_000);

    const { verdicts: seen, subject } = await verdicts(server);
    expect(seen).toEqual(EXPECTED);
    // Refusals wrote nothing: 5 tasks were accepted (4 creates above and the one the later checks use).
    const stored = await withPgClient((client) =>
      client.query<{ tasks: string; reminders: string }>(
        `SELECT (SELECT count(*) FROM tasks t JOIN users u ON u.id = t.owner_id WHERE u.subject = $1) AS tasks,
                (SELECT count(*) FROM reminders r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = t.owner_id WHERE u.subject = $1) AS reminders`,
        [subject],
      ),
    );
    expect(stored.rows[0]).toEqual({ tasks: '5', reminders: '3' });
    await server.stop();
  });
});
