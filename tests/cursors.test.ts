/**
 * Keyset cursors (issue 8, item 4) on every connection (`tasks`, `deliveries`): a cursor is a
 * position `(sort key, id)`, so the page after it depends only on the cursor's content and the
 * caller's own rows. Decided and tested here:
 *
 * - A cursor from another user's list, a forged one naming another user's row, the same position
 *   with a random id, and the same cursor after that row was deleted all answer the same page.
 * - A string that is not a cursor of that connection (garbage, the old `GPC:S:<uuid>` form, a
 *   Delivery cursor given to `tasks`, a NUL inside) answers a VALIDATION error naming the argument,
 *   no data, and never "Unexpected error.".
 * - An empty string (the endCursor of an empty page) reads as no cursor.
 * - Paging forwards (first/after) and backwards (last/before) visits every own row once, including
 *   rows that share a deadline.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ListDeliveriesQuery, ListTasksQuery, PageBackwardsQuery } from './gql/graphql.js';
import { graphql } from './gql/index.js';
import { withPgClient } from './helpers/database.js';
import { CreateTask, DeleteTask, ListTasks } from './helpers/operations.js';
import { execute, newUser, run, useServer, type TestUser } from './helpers/server.js';

const server = useServer();

const PageBackwards = graphql(`
  query PageBackwards($last: Int, $before: String) {
    tasks(last: $last, before: $before) {
      edges {
        cursor
        node {
          id
        }
      }
      pageInfo {
        hasPreviousPage
        startCursor
      }
    }
  }
`);

const ListDeliveries = graphql(`
  query ListDeliveries($first: Int, $after: String) {
    deliveries(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
    viewer {
      id
    }
  }
`);

/** Whole hours from now, so tasks sort by the offsets given. */
function hoursAhead(hours: number, base: number): string {
  return new Date(base + hours * 3600_000).toISOString();
}

async function createTasks(user: TestUser, deadlines: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [index, deadline] of deadlines.entries()) {
    const created = await run(server, user, CreateTask, { input: { title: `task ${index}`, deadline } });
    if (created.createTask.__typename !== 'CreateTaskSuccess') throw new Error(JSON.stringify(created.createTask));
    ids.push(created.createTask.task.id);
  }
  return ids;
}

/** A cursor with this content, as a client could make one by hand. */
function forge(kind: string, key: string, id: string): string {
  return Buffer.from(JSON.stringify([kind, key, id]), 'utf8').toString('base64url');
}

function decode(cursor: string): [string, string, string] {
  return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string, string];
}

function databaseId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString('utf8').split(':')[1] ?? '';
}

describe('tasks: paging by position', () => {
  it('visits every own task once forwards and backwards, ties on the deadline included', async () => {
    const user = await newUser('pager');
    const base = Date.now();
    // Two pairs share a deadline: the id breaks the tie.
    const ids = await createTasks(user, [hoursAhead(5, base), hoursAhead(1, base), hoursAhead(3, base), hoursAhead(3, base), hoursAhead(2, base), hoursAhead(5, base)]);
    const all = await run(server, user, ListTasks, { first: 100 });
    const expected = all.tasks.edges.map((edge) => edge.node.id);
    expect([...expected].sort()).toEqual([...ids].sort());

    const forwards: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const result: ListTasksQuery = await run(server, user, ListTasks, { first: 2, after });
      forwards.push(...result.tasks.edges.map((edge) => edge.node.id));
      if (!result.tasks.pageInfo.hasNextPage) break;
      after = result.tasks.pageInfo.endCursor ?? null;
    }
    expect(forwards).toEqual(expected);

    const backwards: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const result: PageBackwardsQuery = await run(server, user, PageBackwards, { last: 2, before });
      backwards.unshift(...result.tasks.edges.map((edge) => edge.node.id));
      if (!result.tasks.pageInfo.hasPreviousPage) break;
      before = result.tasks.pageInfo.startCursor ?? null;
    }
    expect(backwards).toEqual(expected);
  });
});

describe("tasks: another user's cursor", () => {
  it('answers like any cursor of the same position: foreign, forged with a random id, or of a deleted task', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const base = Date.now();
    const [alicesTask] = await createTasks(alice, [hoursAhead(10, base)]);
    // Bob's tasks lie on both sides of Alice's deadline, never on it.
    const bobs = await createTasks(bob, [hoursAhead(9, base), hoursAhead(11, base), hoursAhead(12, base)]);
    const alicesCursor = (await run(server, alice, ListTasks, { first: 1 })).tasks.edges[0]?.cursor ?? '';
    const [kind, deadline, aliceUuid] = decode(alicesCursor);
    expect(kind).toBe('Task');
    expect(aliceUuid).toBe(databaseId(alicesTask ?? ''));

    const foreign = await execute(server, bob.token, ListTasks, { first: 10, after: alicesCursor });
    const randomId = await execute(server, bob.token, ListTasks, { first: 10, after: forge('Task', deadline, randomUUID()) });
    expect(foreign.data?.tasks.edges.map((edge) => edge.node.id)).toEqual([bobs[1], bobs[2]]);
    expect(foreign).toStrictEqual(randomId);
    expect(JSON.stringify(foreign)).not.toContain(alicesTask);

    // Once Alice's task is gone, her cursor still answers the same: nothing is looked up.
    const deleted = await run(server, alice, DeleteTask, { id: alicesTask ?? '' });
    expect(deleted.deleteTask.__typename).toBe('DeleteTaskPayload');
    const afterDeletion = await execute(server, bob.token, ListTasks, { first: 10, after: alicesCursor });
    expect(afterDeletion).toStrictEqual(foreign);
  });
});

describe('cursors that are not cursors of the connection', () => {
  const ownUuid = randomUUID();
  const refused: Array<[string, string]> = [
    ['garbage', 'garbage'],
    ['the old Pothos form GPC:S:<uuid>', Buffer.from(`GPC:S:${ownUuid}`).toString('base64')],
    ['a Delivery cursor', forge('Delivery', '2031-01-01T00:00:00.000Z', ownUuid)],
    ['an impossible date', forge('Task', '2031-02-30T00:00:00.000Z', ownUuid)],
    ['a date without milliseconds', forge('Task', '2031-01-01T00:00:00Z', ownUuid)],
    ['an id that is no uuid', forge('Task', '2031-01-01T00:00:00.000Z', `${ownUuid}' OR '1'='1`)],
    ['a JSON object', Buffer.from(JSON.stringify({ kind: 'Task' })).toString('base64url')],
    ['very long', 'A'.repeat(10_000)],
    ['a key in year 0000 (before the DateTime range)', forge('Task', '0000-01-01T00:00:00.000Z', ownUuid)],
    ['a key of -000001 (an expanded year)', forge('Task', '-000001-01-01T00:00:00.000Z', ownUuid)],
  ];

  it.each(refused)('tasks(after: %s) answers VALIDATION naming `after`, no data', async (_label, after) => {
    const user = await newUser('cursor');
    const answer = await execute(server, user.token, ListTasks, { first: 5, after });
    expect(answer).toStrictEqual({
      status: 200,
      data: null,
      errors: [expect.objectContaining({ message: '`after` is not a cursor of this connection', extensions: { code: 'VALIDATION', field: 'after' } })],
    });
  });

  it('the first and last instants of the DateTime range are cursors; one millisecond before is not; deliveries alike', async () => {
    const user = await newUser('cursor-range');
    for (const key of ['0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
      expect((await execute(server, user.token, ListTasks, { first: 5, after: forge('Task', key, ownUuid) })).errors).toBeUndefined();
      expect((await execute(server, user.token, ListDeliveries, { first: 5, after: forge('Delivery', key, ownUuid) })).errors).toBeUndefined();
    }
    const early = '0000-12-31T23:59:59.999Z';
    for (const answer of [
      await execute(server, user.token, ListTasks, { first: 5, after: forge('Task', early, ownUuid) }),
      await execute(server, user.token, PageBackwards, { last: 5, before: forge('Task', early, ownUuid) }),
      await execute(server, user.token, ListDeliveries, { first: 5, after: forge('Delivery', early, ownUuid) }),
    ]) {
      expect(answer.errors).toEqual([expect.objectContaining({ extensions: { code: 'VALIDATION', field: expect.stringMatching(/^(after|before)$/) } })]);
    }
  });

  it('an empty cursor, which an empty page gives as its endCursor, reads as "from the start"', async () => {
    const user = await newUser('cursor');
    const empty = await run(server, user, ListTasks, { first: 5 });
    expect(empty.tasks.pageInfo).toEqual({ hasNextPage: false, endCursor: '' });
    const [id] = await createTasks(user, [hoursAhead(1, Date.now())]);
    const again = await run(server, user, ListTasks, { first: 5, after: '' });
    expect(again.tasks.edges.map((edge) => edge.node.id)).toEqual([id]);
  });

  it('tasks(before:) is checked the same way, and a NUL inside a cursor is refused by the text layer, naming it', async () => {
    const user = await newUser('cursor');
    const before = await execute(server, user.token, PageBackwards, { last: 5, before: 'garbage' });
    expect(before.errors).toEqual([expect.objectContaining({ extensions: { code: 'VALIDATION', field: 'before' } })]);
    const withNul = await execute(server, user.token, ListTasks, { first: 5, after: 'abc\u0000def' });
    expect(withNul).toStrictEqual({
      status: 200,
      data: null,
      errors: [expect.objectContaining({ message: 'after contains a NUL character (U+0000)', extensions: { code: 'VALIDATION', field: 'after' } })],
    });
  });
});

describe('deliveries: the same keyset', () => {
  it('pages own deliveries newest first, and a foreign cursor answers like a forged one', async () => {
    const carol = await newUser('carol');
    const dave = await newUser('dave');
    const carolId = (await run(server, carol, ListDeliveries, { first: 1 })).viewer.id;
    const daveId = (await run(server, dave, ListDeliveries, { first: 1 })).viewer.id;
    // Deliveries are made by the dispatcher; here rows are written directly, three seconds apart, one tie.
    const now = Date.now();
    const insert = async (userId: string, secondsAgo: number): Promise<string> =>
      withPgClient(async (client) => {
        const event = await client.query<{ id: string }>(
          `INSERT INTO events (user_id, task_id, reminder_id, type, payload) VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'reminder.fired', '{}') RETURNING id`,
          [userId],
        );
        const delivery = await client.query<{ id: string }>(
          `INSERT INTO deliveries (event_id, user_id, channel, status, created_at) VALUES ($1, $2, 'EMAIL', 'SENT', $3) RETURNING id`,
          [event.rows[0]?.id, userId, new Date(now - secondsAgo * 1000)],
        );
        return delivery.rows[0]?.id ?? '';
      });
    const carols = [await insert(carolId, 3), await insert(carolId, 6), await insert(carolId, 6), await insert(carolId, 9)];
    const davesDelivery = await insert(daveId, 5);

    const all = await run(server, carol, ListDeliveries, { first: 100 });
    const order = all.deliveries.edges.map((edge) => databaseId(edge.node.id));
    expect([...order].sort()).toEqual([...carols].sort());
    expect(order[0]).toBe(carols[0]);
    expect(order[3]).toBe(carols[3]);

    const paged: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const result: ListDeliveriesQuery = await run(server, carol, ListDeliveries, { first: 1, after });
      paged.push(...result.deliveries.edges.map((edge) => databaseId(edge.node.id)));
      if (!result.deliveries.pageInfo.hasNextPage) break;
      after = result.deliveries.pageInfo.endCursor ?? null;
    }
    expect(paged).toEqual(order);

    const davesCursor = (await run(server, dave, ListDeliveries, { first: 1 })).deliveries.edges[0]?.cursor ?? '';
    const [, createdAt, uuid] = decode(davesCursor);
    expect(uuid).toBe(davesDelivery);
    const foreign = await execute(server, carol.token, ListDeliveries, { first: 10, after: davesCursor });
    const forged = await execute(server, carol.token, ListDeliveries, { first: 10, after: forge('Delivery', createdAt, randomUUID()) });
    // Dave's delivery is 5 s old: Carol's three older ones follow that position.
    expect(foreign.data?.deliveries.edges.map((edge) => databaseId(edge.node.id))).toEqual(order.slice(1));
    expect(foreign).toStrictEqual(forged);

    const taskCursor = await execute(server, carol.token, ListDeliveries, { first: 10, after: forge('Task', createdAt, uuid) });
    expect(taskCursor.errors).toEqual([expect.objectContaining({ extensions: { code: 'VALIDATION', field: 'after' } })]);
  });
});
