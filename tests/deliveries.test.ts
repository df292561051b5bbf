/**
 * External deliveries end to end: the webhook endpoint API, and fired reminders travelling through
 * a real dispatcher to real receivers on 127.0.0.1 (node:http webhook sinks, an smtp-server),
 * observed both at the receivers and through the `deliveries` query.
 *
 * 1. Endpoint API: the secret shown once, private and non-http URLs refused, the limit of 10,
 *    deletion, and no access to another user's endpoints.
 * 2. A signed webhook that verifies with the secret from createWebhookEndpoint.
 * 3. Fail once, then succeed: two tries under one webhook-id, SENT after 2 attempts.
 * 4. Always failing: FAILED after exactly maxAttempts attempts, each visible with its status.
 * 5. A slow receiver of one user does not hold up another user's delivery.
 * 6. Email to the address from the token's email claim.
 * 7. A failing webhook does not hold up the same user's email.
 *
 * This file works in its own scratch database (see helpers/sinks.ts), so that only its own
 * dispatcher, which has both notifiers, fires its reminders and claims its deliveries.
 */
import { randomUUID } from 'node:crypto';
import type { ResultOf, TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth/tokens.js';
import { EmailNotifier } from '../src/notifiers/email.js';
import { verifyWebhook } from '../src/notifiers/standard-webhooks.js';
import { WebhookNotifier } from '../src/notifiers/webhook.js';
import { graphql } from './gql/index.js';
import { CreateTask } from './helpers/operations.js';
import { execute, inSeconds, newUser, run, startInstance, TEST_JWT_SECRET, type Instance, type TestUser } from './helpers/server.js';
import {
  always,
  createIsolatedDatabase,
  eventually,
  FAST_DISPATCHER,
  sequence,
  slow,
  startDispatcher,
  startSmtpSink,
  startWebhookSink,
  type IsolatedDatabase,
  type RunningDispatcher,
  type SmtpSink,
  type WebhookBehaviour,
  type WebhookSink,
} from './helpers/sinks.js';

const DeliveriesTestCreateEndpoint = graphql(`
  mutation DeliveriesTestCreateEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      __typename
      ... on CreatedWebhookEndpoint {
        secret
        endpoint {
          id
          url
          description
          createdAt
        }
      }
      ... on ValidationError {
        code
        message
        field
      }
    }
  }
`);

const DeliveriesTestEndpoints = graphql(`
  query DeliveriesTestEndpoints {
    webhookEndpoints {
      id
      url
      description
      createdAt
    }
  }
`);

const DeliveriesTestDeleteEndpoint = graphql(`
  mutation DeliveriesTestDeleteEndpoint($id: ID!) {
    deleteWebhookEndpoint(id: $id) {
      __typename
      ... on DeleteWebhookEndpointPayload {
        deletedWebhookEndpointId
      }
      ... on NotFoundError {
        code
        message
      }
    }
  }
`);

const DeliveriesTestNode = graphql(`
  query DeliveriesTestNode($id: ID!) {
    node(id: $id) {
      __typename
      id
    }
  }
`);

const DeliveriesTestDeliveries = graphql(`
  query DeliveriesTestDeliveries {
    deliveries(first: 50) {
      edges {
        node {
          id
          channel
          status
          eventId
          attemptCount
          nextAttemptAt
          deliveredAt
          lastError
          createdAt
          endpoint {
            id
            url
          }
          attempts {
            attempt
            attemptedAt
            durationMs
            statusCode
            error
          }
        }
      }
    }
  }
`);

const DeliveriesTestViewer = graphql(`
  query DeliveriesTestViewer {
    viewer {
      id
      email
    }
  }
`);

type Delivery = ResultOf<typeof DeliveriesTestDeliveries>['deliveries']['edges'][number]['node'];

/** Dispatcher settings of this file: fast retries; a timeout above the slow receiver's delay. */
const MAX_ATTEMPTS = 3;
const SLOW_RECEIVER_MS = 6000;

let database: IsolatedDatabase;
let instance: Instance;
let dispatcher: RunningDispatcher;
let sink: WebhookSink;
let smtp: SmtpSink;

beforeAll(async () => {
  database = await createIsolatedDatabase();
  [instance, sink, smtp] = await Promise.all([startInstance(database.url, { poolSize: 5 }), startWebhookSink(), startSmtpSink()]);
  dispatcher = await startDispatcher(database.url, {
    ...FAST_DISPATCHER,
    delivery: { timeoutMs: SLOW_RECEIVER_MS * 2, maxAttempts: MAX_ATTEMPTS, backoffBaseMs: 50, backoffMaxMs: 500 },
    notifiers: [
      new WebhookNotifier({ policy: { allowPrivate: false, allowLoopback: true } }),
      new EmailNotifier({ smtpUrl: smtp.url, from: 'Tickler <reminders@tickler.test>' }),
    ],
  });
});

afterAll(async () => {
  await dispatcher?.stop();
  await instance?.stop();
  await Promise.all([sink?.close(), smtp?.close()]);
  await database?.drop();
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function createEndpoint(user: TestUser, url: string, description?: string) {
  const result = await run(instance, user, DeliveriesTestCreateEndpoint, { input: { url, description } });
  if (result.createWebhookEndpoint.__typename !== 'CreatedWebhookEndpoint') {
    throw new Error(`endpoint refused: ${JSON.stringify(result.createWebhookEndpoint)}`);
  }
  return result.createWebhookEndpoint;
}

/** A user with one webhook endpoint on the sink answering as `behaviour`. */
async function userWithWebhook(name: string, behaviour?: WebhookBehaviour, user?: TestUser) {
  const owner = user ?? (await newUser(name));
  const url = sink.route(name, behaviour);
  const { secret, endpoint } = await createEndpoint(owner, url);
  return { user: owner, url, secret, endpoint };
}

/** A task whose one reminder fires in `seconds`. */
async function taskFiringIn(user: TestUser, title: string, seconds = 1.5) {
  const result = await run(instance, user, CreateTask, { input: { title, deadline: inSeconds(3600), reminders: [{ at: inSeconds(seconds) }] } });
  if (result.createTask.__typename !== 'CreateTaskSuccess') throw new Error(`setup failed: ${JSON.stringify(result.createTask)}`);
  return result.createTask.task;
}

async function deliveriesOf(user: TestUser): Promise<Delivery[]> {
  return (await run(instance, user, DeliveriesTestDeliveries)).deliveries.edges.map((edge) => edge.node);
}

/** Waits until the user's delivery on `channel` reaches `status`, and returns it. */
async function deliveryReaching(user: TestUser, channel: Delivery['channel'], status: Delivery['status'], timeoutMs = 30_000): Promise<Delivery> {
  return eventually(
    `a ${channel} delivery to reach ${status}`,
    async () => (await deliveriesOf(user)).find((delivery) => delivery.channel === channel && delivery.status === status),
    timeoutMs,
    100,
  );
}

function header(request: { headers: Record<string, string | string[] | undefined> }, name: string): string {
  const value = request.headers[name];
  if (typeof value !== 'string') throw new Error(`no ${name} header`);
  return value;
}

interface WebhookBody {
  type: string;
  timestamp: string;
  data: { type: string; eventId: string; taskId: string; reminderId: string; taskTitle: string; deadline: string; triggerAt: string; firedAt: string };
}

// ---------------------------------------------------------------------------------------------
// 1. Endpoint API
// ---------------------------------------------------------------------------------------------

describe('webhook endpoint API', () => {
  it('shows the whsec_ secret once, on creation, and never in the list', async () => {
    const user = await newUser();
    const url = sink.route('listed');
    const created = await createEndpoint(user, url, 'My receiver');
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(created.endpoint).toMatchObject({ url, description: 'My receiver' });

    const listed = await execute(instance, user.token, DeliveriesTestEndpoints);
    expect(listed.errors).toBeUndefined();
    expect(listed.data?.webhookEndpoints).toEqual([created.endpoint]);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    expect(JSON.stringify(listed)).not.toContain(created.secret.slice('whsec_'.length));

    // There is no field to ask for it.
    const asked = await execute(instance, user.token, parse('{ webhookEndpoints { id secret } }') as TypedDocumentNode<unknown, Record<string, never>>);
    expect(asked.data ?? null).toBeNull();
    expect(asked.errors?.[0]?.message).toMatch(/Cannot query field "secret"/);

    // Each endpoint gets its own secret.
    const second = await createEndpoint(user, sink.route('listed-too'));
    expect(second.secret).not.toBe(created.secret);
  });

  it.each([
    ['a private address', 'http://10.0.0.1/hook'],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['a home network address', 'http://192.168.1.1/'],
    ['an IPv6 unique-local address', 'http://[fd00::1]/'],
    ['an IPv4-mapped private address', 'http://[::ffff:10.0.0.1]/'],
    ['ftp', 'ftp://example.com/hook'],
    ['ftp on loopback', 'ftp://127.0.0.1/hook'],
    ['a file URL', 'file:///etc/passwd'],
    ['credentials in the URL', 'http://user:pass@127.0.0.1/'],
    ['something that is no URL', 'not a url'],
  ])('refuses %s with a ValidationError on url', async (_label, url) => {
    const user = await newUser();
    const result = await run(instance, user, DeliveriesTestCreateEndpoint, { input: { url } });
    expect(result.createWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'url' });
    if (result.createWebhookEndpoint.__typename === 'ValidationError') expect(result.createWebhookEndpoint.message.length).toBeGreaterThan(0);
    expect((await run(instance, user, DeliveriesTestEndpoints)).webhookEndpoints).toEqual([]);
  });

  it('accepts loopback under the test policy', async () => {
    const user = await newUser();
    for (const url of [sink.route('loopback'), 'http://[::1]:9/hook', 'http://localhost:9/hook']) {
      await createEndpoint(user, url);
    }
    expect((await run(instance, user, DeliveriesTestEndpoints)).webhookEndpoints).toHaveLength(3);
  });

  it('allows 10 endpoints per user, and an 11th only after deleting one', async () => {
    const user = await newUser();
    const endpoints = [];
    for (let index = 0; index < 10; index += 1) endpoints.push((await createEndpoint(user, sink.route(`many-${index}`))).endpoint);
    const eleventh = await run(instance, user, DeliveriesTestCreateEndpoint, { input: { url: sink.route('eleventh') } });
    expect(eleventh.createWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field: 'url' });
    if (eleventh.createWebhookEndpoint.__typename === 'ValidationError') expect(eleventh.createWebhookEndpoint.message).toMatch(/10/);
    expect((await run(instance, user, DeliveriesTestEndpoints)).webhookEndpoints).toHaveLength(10);

    // The limit is per user: someone else is not affected.
    await createEndpoint(await newUser(), sink.route('someone-else'));

    const [first] = endpoints;
    if (!first) throw new Error('no endpoint');
    const deleted = await run(instance, user, DeliveriesTestDeleteEndpoint, { id: first.id });
    expect(deleted.deleteWebhookEndpoint).toEqual({ __typename: 'DeleteWebhookEndpointPayload', deletedWebhookEndpointId: first.id });
    const listed = (await run(instance, user, DeliveriesTestEndpoints)).webhookEndpoints;
    expect(listed.map((endpoint) => endpoint.id)).toEqual(endpoints.slice(1).map((endpoint) => endpoint.id));
    await createEndpoint(user, sink.route('after-delete'));
    // Deleting twice is NOT_FOUND.
    expect((await run(instance, user, DeliveriesTestDeleteEndpoint, { id: first.id })).deleteWebhookEndpoint).toMatchObject({
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
    });
  });

  it("keeps one user's endpoints invisible and undeletable to another", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const { endpoint } = await createEndpoint(alice, sink.route('alices'));
    await createEndpoint(bob, sink.route('bobs'));

    const bobsList = (await run(instance, bob, DeliveriesTestEndpoints)).webhookEndpoints;
    expect(bobsList.map((listed) => listed.id)).not.toContain(endpoint.id);
    expect(bobsList).toHaveLength(1);
    expect((await run(instance, bob, DeliveriesTestNode, { id: endpoint.id })).node).toBeNull();
    expect((await run(instance, alice, DeliveriesTestNode, { id: endpoint.id })).node).toEqual({ __typename: 'WebhookEndpoint', id: endpoint.id });

    const neverExisted = Buffer.from('WebhookEndpoint:00000000-0000-4000-8000-000000000000').toString('base64');
    for (const id of [endpoint.id, neverExisted, 'garbage']) {
      const attempt = await run(instance, bob, DeliveriesTestDeleteEndpoint, { id });
      expect(attempt.deleteWebhookEndpoint, id).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND', message: 'WebhookEndpoint not found' });
    }
    expect((await run(instance, alice, DeliveriesTestEndpoints)).webhookEndpoints.map((listed) => listed.id)).toEqual([endpoint.id]);
  });
});

// ---------------------------------------------------------------------------------------------
// 2-5. Webhook deliveries
// ---------------------------------------------------------------------------------------------

describe('webhook deliveries', () => {
  it('posts a fired reminder, signed so that it verifies with the secret from createWebhookEndpoint', async () => {
    const { user, url, secret, endpoint } = await userWithWebhook('signed');
    const task = await taskFiringIn(user, 'Send the signed report');
    const [request] = await eventually('the webhook', () => (sink.requestsTo(url).length > 0 ? sink.requestsTo(url) : undefined));
    if (!request) throw new Error('no request');

    const id = header(request, 'webhook-id');
    const timestamp = header(request, 'webhook-timestamp');
    expect(header(request, 'webhook-signature')).toMatch(/^v1,/);
    expect(header(request, 'content-type')).toBe('application/json');
    expect(verifyWebhook({ headers: request.headers, body: request.body, secret })).toEqual({ ok: true, id, timestamp: Number(timestamp) });
    // Tampering, or another secret, does not verify.
    expect(verifyWebhook({ headers: request.headers, body: request.body.replace('signed', 'forged'), secret }).ok).toBe(false);
    const { secret: otherSecret } = await createEndpoint(user, sink.route('other-secret'));
    expect(verifyWebhook({ headers: request.headers, body: request.body, secret: otherSecret }).ok).toBe(false);

    const body = JSON.parse(request.body) as WebhookBody;
    expect(body.type).toBe('reminder.fired');
    expect(body.data).toMatchObject({
      type: 'reminder.fired',
      taskId: task.id,
      reminderId: task.reminders[0]?.id,
      taskTitle: 'Send the signed report',
    });
    // Times exactly as the API gives them: RFC 3339, UTC, milliseconds, Z (whatever form the log stores).
    expect(body.data.deadline).toBe(task.deadline);
    expect(body.data.triggerAt).toBe(task.reminders[0]?.triggerAt);
    expect(body.data.firedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(new Date(body.data.firedAt).getTime()).toBeGreaterThanOrEqual(new Date(body.data.triggerAt).getTime());
    expect(body.timestamp).toBe(body.data.firedAt);
    expect(id).toBe(`msg_${body.data.eventId}`);

    const delivery = await deliveryReaching(user, 'WEBHOOK', 'SENT');
    expect(delivery).toMatchObject({ eventId: body.data.eventId, attemptCount: 1, lastError: null, nextAttemptAt: null, endpoint: { id: endpoint.id, url } });
    expect(delivery.deliveredAt).not.toBeNull();
    expect(delivery.attempts).toMatchObject([{ attempt: 1, statusCode: 200, error: null }]);
  });

  it('retries a failed attempt under the same webhook-id, and ends SENT after 2 attempts', async () => {
    const { user, url, secret } = await userWithWebhook('flaky', sequence(500, 200));
    await taskFiringIn(user, 'Flaky receiver');
    const delivery = await deliveryReaching(user, 'WEBHOOK', 'SENT');

    const requests = sink.requestsTo(url);
    expect(requests.map((request) => request.status)).toEqual([500, 200]);
    const [first, second] = requests;
    if (!first || !second) throw new Error('two requests expected');
    expect(header(second, 'webhook-id')).toBe(header(first, 'webhook-id'));
    expect(second.body).toBe(first.body);
    for (const request of requests) expect(verifyWebhook({ headers: request.headers, body: request.body, secret }).ok).toBe(true);

    expect(delivery.attemptCount).toBe(2);
    expect(delivery.lastError).toBeNull();
    expect(delivery.deliveredAt).not.toBeNull();
    expect(delivery.attempts).toMatchObject([
      { attempt: 1, statusCode: 500, error: 'HTTP 500' },
      { attempt: 2, statusCode: 200, error: null },
    ]);
  });

  it(`gives up after exactly ${MAX_ATTEMPTS} attempts on a receiver that always fails, and shows each attempt`, async () => {
    const { user, url } = await userWithWebhook('down', always(503));
    const startedAt = Date.now();
    await taskFiringIn(user, 'Receiver is down');
    const delivery = await deliveryReaching(user, 'WEBHOOK', 'FAILED');

    expect(delivery.attemptCount).toBe(MAX_ATTEMPTS);
    expect(delivery.lastError).toBe('HTTP 503');
    expect(delivery.deliveredAt).toBeNull();
    expect(delivery.nextAttemptAt).toBeNull();
    expect(delivery.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2, 3]);
    for (const attempt of delivery.attempts) {
      expect(attempt).toMatchObject({ statusCode: 503, error: 'HTTP 503' });
      expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
      expect(new Date(attempt.attemptedAt).getTime()).toBeGreaterThanOrEqual(startedAt - 1000);
    }
    const times = delivery.attempts.map((attempt) => new Date(attempt.attemptedAt).getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    // And nothing more is tried. The worker had its chance: it claimed and sent a delivery that
    // became due after this one failed (a fence), so a further attempt would have been claimed too.
    const fence = await userWithWebhook('fence-after-failed');
    await taskFiringIn(fence.user, 'Fence');
    await deliveryReaching(fence.user, 'WEBHOOK', 'SENT');
    const requests = sink.requestsTo(url);
    expect(requests).toHaveLength(MAX_ATTEMPTS);
    expect(new Set(requests.map((request) => header(request, 'webhook-id'))).size).toBe(1);
    expect((await deliveriesOf(user)).map((current) => [current.status, current.attemptCount])).toEqual([['FAILED', MAX_ATTEMPTS]]);
  });

  it("does not hold up one user's delivery behind another user's slow receiver", async () => {
    const slowOne = await userWithWebhook('slow', slow(SLOW_RECEIVER_MS));
    const fastOne = await userWithWebhook('fast');

    await taskFiringIn(slowOne.user, 'For the slow receiver', 1);
    const [slowRequest] = await eventually('the slow request to arrive', () => (sink.requestsTo(slowOne.url).length > 0 ? sink.requestsTo(slowOne.url) : undefined));
    if (!slowRequest) throw new Error('no request');

    // The slow receiver now holds its request; the other user's reminder fires meanwhile.
    await taskFiringIn(fastOne.user, 'For the fast receiver', 1);
    const fastDelivery = await deliveryReaching(fastOne.user, 'WEBHOOK', 'SENT', SLOW_RECEIVER_MS);
    const [fastRequest] = sink.requestsTo(fastOne.url);
    expect(fastRequest?.status).toBe(200);
    expect(slowRequest.answeredAt).toBeUndefined();
    expect((await deliveriesOf(slowOne.user)).map((delivery) => delivery.status)).toEqual(['PROCESSING']);
    expect(fastDelivery.attemptCount).toBe(1);

    // The slow one completes in its own time, in one attempt.
    const slowDelivery = await deliveryReaching(slowOne.user, 'WEBHOOK', 'SENT');
    expect(slowDelivery.attemptCount).toBe(1);
    expect(slowDelivery.attempts[0]?.durationMs).toBeGreaterThanOrEqual(SLOW_RECEIVER_MS - 500);
    if (!fastRequest || slowRequest.answeredAt === undefined) throw new Error('both requests should be answered');
    expect(fastRequest.receivedAt).toBeLessThan(slowRequest.answeredAt);
  });
});

// ---------------------------------------------------------------------------------------------
// 6-7. Email
// ---------------------------------------------------------------------------------------------

/** A user whose token carries an email claim; the first API call creates the user with it. */
async function userWithEmail(name: string): Promise<{ user: TestUser; email: string }> {
  const subject = `${name}-${randomUUID()}`;
  const email = `${subject}@example.com`;
  const user = { subject, token: await signToken(TEST_JWT_SECRET, subject, { email }) };
  expect((await run(instance, user, DeliveriesTestViewer)).viewer.email).toBe(email);
  return { user, email };
}

describe('delivery slots', () => {
  it('keeps at most 4 deliveries in flight to one endpoint, even when more are due at once', async () => {
    const { user, url } = await userWithWebhook('crowded', slow(1500));
    const deadline = inSeconds(3600);
    const at = inSeconds(1.5);
    // Six tasks whose reminders fire in the same pass: six deliveries to one endpoint at once.
    for (let index = 0; index < 6; index += 1) {
      await run(instance, user, CreateTask, { input: { title: `crowded ${index}`, deadline, reminders: [{ at }] } });
    }
    const requests = await eventually(
      'all six deliveries to arrive and be answered',
      () => {
        const seen = sink.requestsTo(url);
        return seen.length === 6 && seen.every((entry) => entry.answeredAt !== undefined) ? seen : undefined;
      },
      30_000,
    );
    // The most requests the endpoint ever had open at the same moment.
    const overlaps = requests.map((request) =>
      requests.filter((other) => other.receivedAt <= request.receivedAt && (other.answeredAt ?? Infinity) > request.receivedAt).length,
    );
    expect(Math.max(...overlaps)).toBeLessThanOrEqual(4);
    expect(Math.max(...overlaps)).toBeGreaterThan(1);
  });
});

describe('email deliveries', () => {
  it('mails a fired reminder to the address from the token, with the task title in the subject', async () => {
    const { user, email } = await userWithEmail('mailed');
    await taskFiringIn(user, 'Renew the passport');
    const mail = await eventually('the mail', () => smtp.mails.find((received) => received.to.includes(email)));
    expect(mail.to).toEqual([email]);
    expect(mail.from).toBe('reminders@tickler.test');
    expect(mail.subject).toBe('Reminder: Renew the passport');

    const delivery = await deliveryReaching(user, 'EMAIL', 'SENT');
    expect(delivery).toMatchObject({ attemptCount: 1, endpoint: null, lastError: null });
    expect(delivery.attempts).toMatchObject([{ attempt: 1, error: null }]);
    expect(mail.raw).toContain(`msg_${delivery.eventId}`);
    // One mail, one delivery: no webhook for a user without endpoints.
    expect(smtp.mails.filter((received) => received.to.includes(email))).toHaveLength(1);
    expect(await deliveriesOf(user)).toHaveLength(1);
  });

  it("does not hold up a user's email behind the same user's failing webhook", async () => {
    const { user, email } = await userWithEmail('both');
    // Each failed webhook attempt takes a while, so the retries stretch over seconds.
    const failing: WebhookBehaviour = () => ({ status: 503, delayMs: 2000 });
    const { url } = await userWithWebhook('failing', failing, user);
    await taskFiringIn(user, 'Two channels');

    const mail = await eventually('the mail', () => smtp.mails.find((received) => received.to.includes(email)));
    expect(mail.subject).toBe('Reminder: Two channels');
    const emailDelivery = await deliveryReaching(user, 'EMAIL', 'SENT');
    expect(emailDelivery.attemptCount).toBe(1);
    // The mail went out while the webhook was still on its first try.
    expect(sink.requestsTo(url).length).toBeLessThanOrEqual(1);
    const webhookNow = (await deliveriesOf(user)).find((delivery) => delivery.channel === 'WEBHOOK');
    expect(webhookNow?.status).toMatch(/^(PENDING|PROCESSING)$/);

    // The webhook carries on retrying on its own, and fails in the end.
    const webhook = await deliveryReaching(user, 'WEBHOOK', 'FAILED');
    expect(webhook.attemptCount).toBe(MAX_ATTEMPTS);
    expect(webhook.attempts.every((attempt) => attempt.statusCode === 503)).toBe(true);
    expect(mail.receivedAt).toBeLessThan(sink.requestsTo(url)[1]?.receivedAt ?? 0);
    expect((await deliveriesOf(user)).find((delivery) => delivery.channel === 'EMAIL')?.status).toBe('SENT');
  });
});
