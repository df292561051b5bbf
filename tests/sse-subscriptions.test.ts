/**
 * Subscriptions over server-sent events (GraphQL over SSE, distinct connections mode: one POST
 * with `Accept: text/event-stream` per subscription), through a real server, dispatcher and
 * database, under the same policy as graphql-ws (src/server/sse.ts): per-request auth, the token's
 * `exp`, a per-user cap, a bound on what a client that stops reading may queue, and shutdown.
 * Every wait is on an observable signal: an event, the end of a stream, the server's stream count.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth/tokens.js';
import { withPgClient } from './helpers/database.js';
import { CreateTask, Viewer } from './helpers/operations.js';
import { inSeconds, newUser, run, startInstance, TEST_JWT_SECRET, type Instance, type TestUser } from './helpers/server.js';
import { createIsolatedDatabase, eventually, FAST_DISPATCHER, startDispatcher, type IsolatedDatabase, type RunningDispatcher } from './helpers/sinks.js';

const SUBSCRIBE = 'subscription Fired($after: ID) { reminderFired(after: $after) { id taskTitle } }';
const STREAMS_PER_USER = 2;
const BUFFERED_BYTES = 256 * 1024;

let database: IsolatedDatabase;
let instance: Instance;
let dispatcher: RunningDispatcher;

beforeAll(async () => {
  database = await createIsolatedDatabase();
  instance = await startInstance(database.url, { poolSize: 5, limits: { socketsPerUser: STREAMS_PER_USER, socketBufferedBytes: BUFFERED_BYTES } });
  dispatcher = await startDispatcher(database.url, FAST_DISPATCHER, instance);
});

afterAll(async () => {
  await dispatcher?.stop();
  await instance?.stop();
  await database?.drop();
});

interface SseEvent {
  event: string;
  data: string;
}

interface EventStream {
  status: number;
  events: SseEvent[];
  /** Resolves once the server ended the response (or the client aborted). */
  ended: Promise<void>;
  /** Waits for the first `next` event whose payload matches. */
  next: (match: (payload: NextPayload) => boolean) => Promise<NextPayload>;
  abort: () => void;
}

interface NextPayload {
  data?: { reminderFired?: { id: string; taskTitle: string } } | null;
  errors?: Array<{ message: string; extensions?: { code?: string; limit?: number } }>;
}

/** Opens one subscription the way GraphiQL does (POST, Accept: text/event-stream) and parses its events as they come. */
async function subscribe(url: string, token: string | null, variables: { after?: string } = {}): Promise<EventStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    signal: controller.signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query: SUBSCRIBE, variables }),
  });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const ended = (async () => {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      while (true) {
        const chunk = await reader.read();
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const lines = block.split('\n').filter((line) => !line.startsWith(':'));
          if (lines.length === 0) continue;
          const event = lines.find((line) => line.startsWith('event:'))?.slice(6).trim() ?? 'message';
          const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trim()).join('\n');
          events.push({ event, data });
          for (const wake of waiters) wake();
        }
      }
    } catch {
      // Aborted by the test, or dropped by the server.
    } finally {
      for (const wake of waiters) wake();
    }
  })();
  let done = false;
  void ended.then(() => (done = true));
  const payloads = () => events.filter((event) => event.event === 'next').map((event) => JSON.parse(event.data) as NextPayload);
  return {
    status: response.status,
    events,
    ended,
    abort: () => controller.abort(),
    next: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = payloads().find(match);
          if (found) {
            waiters.delete(check);
            resolve(found);
          } else if (done) {
            waiters.delete(check);
            reject(new Error(`stream ended while waiting; events: ${JSON.stringify(events)}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

async function userIdOf(user: TestUser): Promise<string> {
  await run(instance, user, Viewer);
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ id: string }>('SELECT id FROM users WHERE subject = $1', [user.subject]);
    if (!rows[0]) throw new Error('no such user');
    return rows[0].id;
  }, database.url);
}

/** `count` stored events of `userId`, straight into the log, each titled `title <n>`; returns their ids in order. */
async function storeEvents(userId: string, count: number, title: string): Promise<string[]> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO events (user_id, task_id, reminder_id, type, payload)
       SELECT $1::uuid, gen_random_uuid(), gen_random_uuid(), 'reminder.fired',
              jsonb_build_object('taskTitle', $3::text || ' ' || g, 'deadline', now()::text, 'triggerAt', now()::text, 'firedAt', now()::text)
       FROM generate_series(1, $2::int) g
       RETURNING id`,
      [userId, count, title],
    );
    await client.query(`SELECT pg_notify('tickler_events', '')`);
    return rows.map((row) => row.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  }, database.url);
}

const streamsOf = (userId: string) => instance.server.eventStreamCount(userId);

async function scrapeGauge(name: string): Promise<number> {
  const text = await (await fetch(instance.url.replace('/graphql', '/metrics'))).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

describe('reminderFired over server-sent events', () => {
  it('delivers a fired reminder, counts the stream in tickler_subscribers, and unsubscribes when the client leaves', async () => {
    const user = await newUser('sse-live');
    const userId = await userIdOf(user);
    const stream = await subscribe(instance.url, user.token);
    expect(stream.status).toBe(200);
    await eventually('the stream to be registered', () => (streamsOf(userId) === 1 && instance.events.subscriptionCount(userId) === 1 ? true : undefined));
    expect(await scrapeGauge('tickler_subscribers')).toBeGreaterThanOrEqual(1);

    // Due 3 s ahead: still in the future when createTask runs on a loaded machine (a past one is a ScheduleError).
    await run(instance, user, CreateTask, { input: { title: 'over sse', deadline: inSeconds(3600), reminders: [{ at: inSeconds(3) }] } });
    const event = await stream.next((payload) => payload.data?.reminderFired?.taskTitle === 'over sse');
    expect(event.data?.reminderFired?.id).toMatch(/^\d+$/);

    stream.abort();
    await eventually('the hub to drop the subscriber', () => (instance.events.subscriptionCount(userId) === 0 && streamsOf(userId) === 0 ? true : undefined));
  });

  it('replays what was missed after `after`, in order, then goes live', async () => {
    const user = await newUser('sse-replay');
    const userId = await userIdOf(user);
    const stored = await storeEvents(userId, 3, 'missed');
    const stream = await subscribe(instance.url, user.token, { after: stored[0] });
    await stream.next((payload) => payload.data?.reminderFired?.id === stored[2]);
    const live = await storeEvents(userId, 1, 'live');
    await stream.next((payload) => payload.data?.reminderFired?.id === live[0]);
    const ids = stream.events.filter((event) => event.event === 'next').map((event) => (JSON.parse(event.data) as NextPayload).data?.reminderFired?.id);
    expect(ids).toEqual([stored[1], stored[2], live[0]]);
    stream.abort();
  });

  it('answers 401 UNAUTHENTICATED without a token or with an invalid one, and opens no stream', async () => {
    for (const token of [null, 'not-a-token']) {
      const stream = await subscribe(instance.url, token);
      await stream.ended;
      expect(stream.status).toBe(401);
      expect(stream.events.map((event) => event.event)).toEqual(['next', 'complete']);
      expect(JSON.parse(stream.events[0]!.data)).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    }
  });

  it('refuses a subscription over HTTP that does not accept an event stream with STREAM_REQUIRED, at once', async () => {
    const user = await newUser('sse-legacy');
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const response = await fetch(instance.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${user.token}` },
        body: JSON.stringify({ query: SUBSCRIBE }),
      });
      expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'STREAM_REQUIRED' } }] });
    }
    const get = await fetch(`${instance.url}?query=${encodeURIComponent(SUBSCRIBE)}`, { headers: { accept: 'application/json', authorization: `Bearer ${user.token}` } });
    expect(await get.json()).toMatchObject({ errors: [{ extensions: { code: 'STREAM_REQUIRED' } }] });
  });

  it("ends the stream with one TOKEN_EXPIRED error and then completes when the token's exp passes", async () => {
    const subject = `sse-expiry-${Date.now()}`;
    const expiring = await signToken(TEST_JWT_SECRET, subject, { expiresIn: Math.floor(Date.now() / 1000) + 3 });
    const stream = await subscribe(instance.url, expiring);
    await stream.ended;
    const nexts = stream.events.filter((event) => event.event === 'next');
    expect(nexts).toHaveLength(1);
    expect(JSON.parse(nexts[0]!.data)).toMatchObject({ errors: [{ message: 'token expired', extensions: { code: 'TOKEN_EXPIRED' } }] });
    expect(stream.events.at(-1)?.event).toBe('complete');
    expect(instance.server.eventStreamCount()).toBe(0);
  });

  it(`refuses a stream over the cap (${STREAMS_PER_USER} per user) with TOO_MANY_STREAMS, and admits one again once a stream ends`, async () => {
    const user = await newUser('sse-cap');
    const userId = await userIdOf(user);
    const first = await subscribe(instance.url, user.token);
    const second = await subscribe(instance.url, user.token);
    await eventually('two open streams', () => (streamsOf(userId) === 2 ? true : undefined));

    const refused = await subscribe(instance.url, user.token);
    await refused.ended;
    expect(JSON.parse(refused.events.find((event) => event.event === 'next')!.data)).toMatchObject({
      errors: [{ extensions: { code: 'TOO_MANY_STREAMS', limit: STREAMS_PER_USER } }],
    });
    expect(refused.events.at(-1)?.event).toBe('complete');
    // Another user is not affected by this one's streams.
    const other = await newUser('sse-cap-other');
    const otherStream = await subscribe(instance.url, other.token);

    first.abort();
    await eventually('a slot to free up', () => (streamsOf(userId) === 1 ? true : undefined));
    const third = await subscribe(instance.url, user.token);
    await eventually('the new stream to open', () => (streamsOf(userId) === 2 ? true : undefined));
    expect(third.events.filter((event) => event.event === 'next')).toEqual([]);
    for (const stream of [second, third, otherStream]) stream.abort();
  });

  it(`drops a client that stops reading once more than ${BUFFERED_BYTES} bytes wait unsent`, { timeout: 120_000 }, async () => {
    const user = await newUser('sse-slow');
    const userId = await userIdOf(user);
    // 3,000 stored events of about 4 KB each: about 12 MB to replay, far more than socket buffers hold.
    const title = 't'.repeat(4000);
    await storeEvents(userId, 3000, title);
    const { port } = new URL(instance.url);
    const body = JSON.stringify({ query: SUBSCRIBE, variables: { after: '0' } });
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.pause();
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(
      `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n` +
        `authorization: Bearer ${user.token}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await eventually('the stream to open', () => (instance.events.subscriptionCount(userId) === 1 ? true : undefined), 30_000, 20);
    // Observable on the server: the stream is gone while the client still has not read a byte.
    await eventually('the server to drop the stream', () => (streamsOf(userId) === 0 && instance.events.subscriptionCount(userId) === 0 ? true : undefined), 60_000, 50);
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await closed;
    // It received part of the replay (what the socket buffers held), never all of it.
    expect(received).toBeLessThan(3000 * title.length);
  });

  it('ends open streams with SHUTTING_DOWN at shutdown; the server closes without waiting for the grace period', { timeout: 60_000 }, async () => {
    const other = await startInstance(database.url, { poolSize: 2 });
    const user = await newUser('sse-shutdown');
    const stream = await subscribe(other.url, user.token);
    await eventually('the stream to open', () => (other.server.eventStreamCount() === 1 ? true : undefined));
    // A grace period longer than this test's timeout: closing must not wait on the stream.
    await other.server.close(10 * 60_000);
    await stream.ended;
    const nexts = stream.events.filter((event) => event.event === 'next');
    expect(nexts.map((event) => JSON.parse(event.data) as NextPayload)).toMatchObject([{ errors: [{ extensions: { code: 'SHUTTING_DOWN' } }] }]);
    expect(stream.events.at(-1)?.event).toBe('complete');
    await other.events.stop();
    await other.listener.close();
    await other.db.$disconnect();
  });
});
