/**
 * What one graphql-ws client may cost the server (issue 8, items 10, 11 and 13), over real sockets:
 *
 * 1. Frames: 65,536 bytes are taken, 65,537 close the socket with 1009, before connection_init
 *    and after; a real server process then logs one JSON line per close and nothing on stderr (no
 *    library stack trace), and a flood of them is throttled.
 * 2. Sockets per user: with a cap of 3, a 4th socket is closed 4029 (not graphql-ws's own 4429); after one closes, a new one is
 *    acknowledged; another user is unaffected. With the defaults, the 11th socket and the 51st
 *    running operation are refused.
 * 3. Operations per socket: with a cap of 2, a 3rd running subscription answers
 *    TOO_MANY_SUBSCRIPTIONS on its own id; the socket stays usable; completing one frees a place.
 * 4. Token expiry: a socket is closed 4403 "token expired" when its token's `exp` passes, and
 *    refuses nothing before that.
 * 5. Backpressure: a client that stops reading and sends 150 `tasks(first: 100)` queries is closed
 *    once its unsent buffer passes the bound (1 MiB here), instead of growing without bound.
 * 6. Subscriptions over HTTP that do not accept server-sent events answer STREAM_REQUIRED and end
 *    (over SSE they run under the same limits: sse-subscriptions.test.ts); over graphql-ws they run.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { testDatabaseUrl } from './helpers/database.js';
import { CreateTask } from './helpers/operations.js';
import { spawnServerProcess } from './helpers/server-process.js';
import { inSeconds, newUser, run, startInstance, TEST_JWT_SECRET, type Instance, type TestUser } from './helpers/server.js';
import { eventually } from './helpers/sinks.js';

interface OpenSocket {
  socket: WebSocket;
  messages: Array<{ type: string; id?: string; payload?: unknown }>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message (past or future) `match` accepts. */
  next(match: (message: { type: string; id?: string; payload?: unknown }) => boolean): Promise<{ type: string; id?: string; payload?: unknown }>;
  send(message: unknown): void;
}

async function openSocket(url: string): Promise<OpenSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const messages: OpenSocket['messages'] = [];
  const waiters = new Set<{ match: (message: OpenSocket['messages'][number]) => boolean; resolve: (message: OpenSocket['messages'][number]) => void }>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as OpenSocket['messages'][number];
    messages.push(message);
    for (const waiter of waiters) {
      if (waiter.match(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    messages,
    closed,
    next: (match) =>
      new Promise((resolve, reject) => {
        const found = messages.find(match);
        if (found) return resolve(found);
        waiters.add({ match, resolve });
        void closed.then((close) => reject(new Error(`socket closed ${close.code} ${close.reason} while waiting`)));
      }),
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
  };
}

/** A socket that has been acknowledged for `token`. */
async function connect(url: string, token: string): Promise<OpenSocket> {
  const open = await openSocket(url);
  open.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  await open.next((message) => message.type === 'connection_ack');
  return open;
}

const SUBSCRIBE_FIRED = 'subscription { reminderFired { id } }';

let capped: Instance;
let backpressured: Instance;
let defaults: Instance;

beforeAll(async () => {
  defaults = await startInstance(testDatabaseUrl(), { poolSize: 3 });
  capped = await startInstance(testDatabaseUrl(), { poolSize: 3, limits: { socketsPerUser: 3, subscriptionsPerSocket: 2 } });
  backpressured = await startInstance(testDatabaseUrl(), { poolSize: 3, limits: { subscriptionsPerSocket: 500, socketBufferedBytes: 1024 * 1024 } });
});

afterAll(async () => {
  await Promise.all([capped?.stop(), backpressured?.stop(), defaults?.stop()]);
});

describe('frames over 64 KiB', () => {
  it('takes a 65,536-byte connection_init and closes on 65,537 bytes with 1009, before and after connection_init', async () => {
    const user = await newUser('frames');
    const initOf = (size: number) => {
      const base = JSON.stringify({ type: 'connection_init', payload: { token: user.token, pad: '' } });
      return JSON.stringify({ type: 'connection_init', payload: { token: user.token, pad: 'x'.repeat(size - base.length) } });
    };
    expect(Buffer.byteLength(initOf(65_536))).toBe(65_536);

    const exact = await openSocket(capped.wsUrl);
    exact.send(initOf(65_536));
    await exact.next((message) => message.type === 'connection_ack');
    exact.socket.close(1000);

    const before = await openSocket(capped.wsUrl);
    before.send(initOf(65_537));
    expect((await before.closed).code).toBe(1009);

    const after = await connect(capped.wsUrl, user.token);
    after.send({ id: '1', type: 'subscribe', payload: { query: `{ viewer { id } } # ${'x'.repeat(65_537)}` } });
    expect((await after.closed).code).toBe(1009);
  });

  it('logs one JSON line per refused frame through the logger, nothing on stderr, and throttles a flood', async () => {
    const server = await spawnServerProcess(testDatabaseUrl());
    const big = 'x'.repeat(65_537);
    const first = await openSocket(server.wsUrl);
    first.send(big);
    expect((await first.closed).code).toBe(1009);
    const line = await server.waitForLog((entry) => entry.msg === 'websocket closed' && entry.code === 1009);
    expect(line).toMatchObject({ level: 'warn', reason: 'message over 65536 bytes' });
    expect(JSON.stringify(line)).not.toMatch(/ at |stack/);

    // 40 more: at most 10 lines of one kind per minute reach the log.
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        const socket = await openSocket(server.wsUrl);
        socket.send(big);
        expect((await socket.closed).code).toBe(1009);
      }),
    );
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    const closes = server.logs().filter((entry) => entry.msg === 'websocket closed');
    expect(closes.length).toBe(10);
    expect(server.logs().filter((entry) => entry.msg === '<not json>')).toEqual([]);
    expect(server.stderr()).toBe('');
  });
});

describe('sockets per user', () => {
  it('closes a 4th socket of one user with 4029 and takes one again after another closed; other users are unaffected', async () => {
    const user = await newUser('sockets');
    const sockets = [await connect(capped.wsUrl, user.token), await connect(capped.wsUrl, user.token), await connect(capped.wsUrl, user.token)];
    const fourth = await openSocket(capped.wsUrl);
    fourth.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
    expect(await fourth.closed).toEqual({ code: 4029, reason: 'too many sockets: at most 3 per user' });
    expect(fourth.messages.map((message) => message.type)).not.toContain('connection_ack');

    const other = await newUser('sockets');
    const otherSocket = await connect(capped.wsUrl, other.token);

    sockets[0]!.socket.close(1000);
    await sockets[0]!.closed;
    // The server forgets the socket when its close arrives; a new one is then acknowledged.
    const again = await eventually('a socket acknowledged after one closed', async () => {
      const attempt = await openSocket(capped.wsUrl);
      attempt.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
      const outcome = await Promise.race([attempt.next((message) => message.type === 'connection_ack').then(() => 'ack'), attempt.closed.then(() => 'closed')]);
      return outcome === 'ack' ? attempt : undefined;
    });
    for (const open of [...sockets.slice(1), again, otherSocket]) open.socket.close(1000);
  });
});

describe('the default caps', () => {
  it('take 10 sockets of one user and 50 running subscriptions on one socket, and refuse the 11th and the 51st', async () => {
    const user = await newUser('defaults');
    const sockets = await Promise.all(Array.from({ length: 10 }, () => connect(defaults.wsUrl, user.token)));
    const eleventh = await openSocket(defaults.wsUrl);
    eleventh.send({ type: 'connection_init', payload: { token: user.token } });
    expect((await eleventh.closed).code).toBe(4029);

    const open = sockets[0]!;
    for (let index = 1; index <= 51; index += 1) open.send({ id: String(index), type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    const refused = await open.next((message) => message.type === 'error');
    expect(refused).toMatchObject({ id: '51', payload: [{ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: 50 } }] });
    open.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    // The 50 still run, so a query is one too many as well; completing one makes room for it.
    expect(await open.next((message) => message.id === 'q')).toMatchObject({ type: 'error' });
    open.send({ id: '1', type: 'complete' });
    open.send({ id: 'q2', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    expect(await open.next((message) => message.id === 'q2')).toMatchObject({ type: 'next' });
    for (const socket of sockets) socket.socket.close(1000);
  });
});

describe('operations per socket', () => {
  it('answers a 3rd running subscription with TOO_MANY_SUBSCRIPTIONS and keeps the socket; completing one frees a place', async () => {
    const user = await newUser('subs');
    const open = await connect(capped.wsUrl, user.token);
    open.send({ id: 'a', type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    open.send({ id: 'b', type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    open.send({ id: 'c', type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    const refused = await open.next((message) => message.id === 'c');
    expect(refused.type).toBe('error');
    expect(refused.payload).toMatchObject([{ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit: 2 } }]);

    open.send({ id: 'a', type: 'complete' });
    open.send({ id: 'd', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    const answered = await open.next((message) => message.id === 'd');
    expect(answered).toMatchObject({ type: 'next', payload: { data: { viewer: { subject: user.subject } } } });
    expect(open.messages.filter((message) => message.type === 'error').map((message) => message.id)).toEqual(['c']);
    open.socket.close(1000);
  });
});

describe('token expiry', () => {
  it('closes a socket with 4403 "token expired" when its token expires, answering until then', async () => {
    const subject = `expiring-${randomUUID()}`;
    // 4 to 5 s ahead: time enough to answer the query below, even on a loaded machine.
    const expiresAt = Math.floor(Date.now() / 1000) + 5;
    const token = await signToken(TEST_JWT_SECRET, subject, { expiresIn: expiresAt });
    const open = await connect(capped.wsUrl, token);
    open.send({ id: 'live', type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    open.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    expect(await open.next((message) => message.id === 'q')).toMatchObject({ type: 'next', payload: { data: { viewer: { subject } } } });
    const closed = await open.closed;
    expect(closed).toEqual({ code: 4403, reason: 'token expired' });
    // Not before the token's exp (whole seconds).
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);
  });
});

describe('tokens and identity on a socket', () => {
  it('refuses a token whose exp is past what a Date holds (4403 at connection_init, 401 over HTTP); takes one 30 days ahead', async () => {
    const { SignJWT } = await import('jose');
    const far = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`far-${randomUUID()}`).setExpirationTime(1e13).sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const open = await openSocket(capped.wsUrl);
    open.send({ type: 'connection_init', payload: { authorization: `Bearer ${far}` } });
    expect((await open.closed).code).toBe(4403);
    const http = await fetch(capped.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${far}` }, body: JSON.stringify({ query: '{ viewer { subject } }' }) });
    expect(http.status).toBe(401);
    // Past setTimeout's 2^31-1 ms (24.8 days): the socket is armed in chunks and stays open.
    const subject = `month-${randomUUID()}`;
    const month = await connect(capped.wsUrl, await signToken(TEST_JWT_SECRET, subject, { expiresIn: '30d' }));
    month.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    expect(await month.next((message) => message.id === 'q')).toMatchObject({ type: 'next', payload: { data: { viewer: { subject } } } });
    month.socket.close(1000);
    await month.closed;
  });

  it("takes a new user's zoneinfo claim over graphql-ws as over HTTP", async () => {
    const subject = `zone-${randomUUID()}`;
    const open = await connect(capped.wsUrl, await signToken(TEST_JWT_SECRET, subject, { zoneinfo: 'Asia/Tokyo' }));
    open.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { timeZone } }' } });
    expect(await open.next((message) => message.id === 'q')).toMatchObject({ type: 'next', payload: { data: { viewer: { timeZone: 'Asia/Tokyo' } } } });
    open.socket.close(1000);
    await open.closed;
  });

  it('answers RATE_LIMITED over graphql-ws without the HTTP-only extensions.http', async () => {
    const limited = await startInstance(testDatabaseUrl(), { poolSize: 2, limits: { mutationsPerMinute: 1 } });
    try {
      const user = await newUser('limited-socket');
      const open = await connect(limited.wsUrl, user.token);
      const mutation = 'mutation { setTimeZone(timeZone: "Asia/Tokyo") { __typename } }';
      open.send({ id: 'm1', type: 'subscribe', payload: { query: mutation } });
      expect(await open.next((message) => message.id === 'm1')).toMatchObject({ type: 'next', payload: { data: {} } });
      open.send({ id: 'm2', type: 'subscribe', payload: { query: mutation } });
      const refused = (await open.next((message) => message.id === 'm2' && message.type !== 'complete')) as { payload: Array<{ extensions: Record<string, unknown> }> | { errors: Array<{ extensions: Record<string, unknown> }> } };
      const errors = Array.isArray(refused.payload) ? refused.payload : refused.payload.errors;
      expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'RATE_LIMITED', limit: 1, retryAfterSeconds: expect.any(Number) } })]);
      open.socket.close(1000);
      await open.closed;
    } finally {
      await limited.stop();
    }
  });
});

describe('a client that stops reading', () => {
  it('is closed once its unsent buffer passes the bound', async () => {
    const user: TestUser = await newUser('slow');
    const description = 'd'.repeat(5000);
    for (let index = 0; index < 100; index += 1) {
      await run(backpressured, user, CreateTask, { input: { title: `t${index}`, description, deadline: inSeconds(3600 + index) } });
    }
    const open = await connect(backpressured.wsUrl, user.token);
    open.socket.pause();
    for (let index = 0; index < 150; index += 1) {
      open.send({ id: String(index), type: 'subscribe', payload: { query: '{ tasks(first: 100) { edges { node { id description } } } }' } });
    }
    // Observable on the server: the socket is gone while the client still has not read a byte.
    await eventually('the server to drop the socket', () => (backpressured.server.webSocketCount === 0 ? true : undefined), 60_000, 50);
    open.socket.resume();
    const closed = await open.closed;
    // It never read: at most a part of the 150 answers (about 75 MB) reached it.
    expect(open.messages.filter((message) => message.type === 'next').length).toBeLessThan(150);
    expect([1006, 1013]).toContain(closed.code);
  }, 120_000);
});

describe('subscriptions over HTTP', () => {
  it('answers STREAM_REQUIRED to one that does not accept server-sent events and ends the response; graphql-ws serves it', async () => {
    const user = await newUser('sse');
    const requests: Array<[string, RequestInit, string]> = ['application/json', 'application/graphql-response+json'].map((accept) => [
      capped.url,
      { method: 'POST', headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${user.token}` }, body: JSON.stringify({ query: SUBSCRIBE_FIRED }) },
      `POST ${accept}`,
    ]);
    requests.push([
      `${capped.url}?query=${encodeURIComponent(SUBSCRIBE_FIRED)}`,
      { headers: { accept: 'application/json', authorization: `Bearer ${user.token}` } },
      'GET application/json',
    ]);
    for (const [url, init, accept] of requests) {
      const response = await fetch(url, init);
      // text() resolves only once the server ended the response.
      const text = await response.text();
      expect(text, accept).toContain('STREAM_REQUIRED');
      expect(text).not.toContain('"data":{"reminderFired"');
    }
    const open = await connect(capped.wsUrl, user.token);
    open.send({ id: 's', type: 'subscribe', payload: { query: SUBSCRIBE_FIRED } });
    open.send({ id: 'q', type: 'subscribe', payload: { query: '{ viewer { subject } }' } });
    await open.next((message) => message.id === 'q');
    expect(open.messages.filter((message) => message.id === 's')).toEqual([]);
    open.socket.close(1000);
  });
});
