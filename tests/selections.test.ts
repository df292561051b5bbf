/**
 * A selection that never enters a Prisma-backed object type (`{ __typename }` only, or only
 * `… on Error`) on a field whose result is a union: Pothos plans an empty Prisma `select`, which
 * Prisma refuses. Every such field answers normally: the mutation's success, the lookup's
 * NOT_FOUND, over HTTP and graphql-ws.
 */
import { createClient } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { inSeconds, newUser, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

async function post(user: TestUser, query: string, variables?: Record<string, unknown>): Promise<{ data?: unknown; errors?: unknown }> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: unknown; errors?: unknown };
}

const MISSING_TASK = Buffer.from('Task:00000000-0000-4000-8000-000000000000').toString('base64');

describe('only __typename (or only the error branch) under a Prisma-backed union', () => {
  it('setTimeZone and setQuietHours answer their success type, and the change is written', async () => {
    const user = await newUser('typename');
    expect(await post(user, 'mutation { setTimeZone(timeZone: "Asia/Tokyo") { __typename } }')).toEqual({ data: { setTimeZone: { __typename: 'SetTimeZoneSuccess' } } });
    expect(await post(user, 'mutation { setTimeZone(timeZone: "Europe/Paris") { ... on SetTimeZoneSuccess { __typename } } }')).toEqual({
      data: { setTimeZone: { __typename: 'SetTimeZoneSuccess' } },
    });
    expect(await post(user, 'mutation { setQuietHours(quietHours: { start: "22:00", end: "07:00" }) { __typename ... on Error { code } } }')).toEqual({
      data: { setQuietHours: { __typename: 'SetQuietHoursSuccess' } },
    });
    expect(await post(user, '{ viewer { timeZone quietHours { start end } } }')).toEqual({
      data: { viewer: { timeZone: 'Europe/Paris', quietHours: { start: '22:00', end: '07:00' } } },
    });
  });

  it('task(id:) answers NOT_FOUND for a missing id and the success type for an own task', async () => {
    const user = await newUser('typename');
    expect(await post(user, `{ task(id: "${MISSING_TASK}") { __typename ... on Error { code } } }`)).toEqual({ data: { task: { __typename: 'NotFoundError', code: 'NOT_FOUND' } } });
    const created = (await post(user, 'mutation($d: DateTime!) { createTask(input: { title: "t", deadline: $d }) { ... on CreateTaskSuccess { task { id } } } }', { d: inSeconds(3600) })) as {
      data: { createTask: { task: { id: string } } };
    };
    const id = created.data.createTask.task.id;
    expect(await post(user, `{ task(id: "${id}") { __typename } }`)).toEqual({ data: { task: { __typename: 'TaskSuccess' } } });
    expect(await post(user, `{ task(id: "${id}") { ... on Error { code } } }`)).toEqual({ data: { task: {} } });
    expect(await post(user, '{ webhookEndpoints { __typename } viewer { __typename } }')).toEqual({ data: { webhookEndpoints: [], viewer: { __typename: 'Viewer' } } });
  });

  it('the same over graphql-ws', async () => {
    const user = await newUser('typename');
    const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${user.token}` }, retryAttempts: 0 });
    try {
      const result = await new Promise<unknown>((resolve) => {
        let last: unknown = null;
        client.subscribe(
          { query: 'mutation { setTimeZone(timeZone: "Asia/Tokyo") { __typename } }' },
          { next: (value) => (last = value), error: resolve, complete: () => resolve(last) },
        );
      });
      expect(result).toEqual({ data: { setTimeZone: { __typename: 'SetTimeZoneSuccess' } } });
    } finally {
      await client.dispose();
    }
  });
});
