/**
 * The dashboard at `/`, in Debian's headless Chromium, against Tickler run as `npm start` runs it
 * (a real process on a real port, its dispatcher inside): sign in, create tasks, see reminders fire
 * in the live feed, stop the server (its own SIGTERM shutdown closes the browser's socket), let a
 * reminder fire while the page is disconnected, start the server again on the same port, and see the
 * feed resume with `after`: the missed event replayed once, nothing repeated.
 */
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { graphql } from '../gql/index.js';
import { testDatabaseUrl, withPgClient } from '../helpers/database.js';
import { collectCspViolations, freePort, launchChromium, screenshot, TicklerProcess } from '../helpers/browser.js';
import { TEST_JWT_SECRET } from '../helpers/server.js';
import { always, eventually, startWebhookSink, type WebhookSink } from '../helpers/sinks.js';

const DashboardTestCreateEndpoint = graphql(`
  mutation DashboardTestCreateEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      __typename
      ... on CreatedWebhookEndpoint {
        endpoint {
          id
        }
      }
    }
  }
`);

async function post<TResult, TVariables>(baseUrl: string, token: string, document: TypedDocumentNode<TResult, TVariables>, variables: TVariables): Promise<TResult> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: TResult; errors?: unknown };
  if (!body.data) throw new Error(`request failed: ${JSON.stringify(body)}`);
  return body.data;
}

/** Settings of every Tickler process here: one delivery attempt each, so outcomes are final at once. */
const PROCESS_ENV = { WEBHOOK_ALLOW_LOOPBACK: 'true', DELIVERY_MAX_ATTEMPTS: '1', SHUTDOWN_GRACE_SECONDS: '2' };

let browser: Browser;
let sink: WebhookSink;
const processes: TicklerProcess[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  sink = await startWebhookSink();
});

afterAll(async () => {
  await browser?.close();
  await sink?.close();
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((process) => process.kill()));
});

/** Starts the API server on `port` and waits until its hub and dispatcher run. */
async function startServer(port: number, env: Record<string, string> = {}): Promise<TicklerProcess> {
  const server = TicklerProcess.server(port, testDatabaseUrl(), { ...PROCESS_ENV, ...env });
  processes.push(server);
  await server.waitForLog((line) => line.msg === 'dispatcher started', 'the dispatcher to start');
  return server;
}

async function createTask(page: Page, title: string, reminder: { inSeconds?: number; minutesBefore?: number }): Promise<void> {
  const form = page.locator('form.create-task');
  await form.locator('input[name=title]').fill(title);
  if (reminder.inSeconds !== undefined) {
    await form.locator('input[name=remindIn]').fill(String(reminder.inSeconds));
    await form.locator('select[name=remindInUnit]').selectOption('seconds');
  }
  if (reminder.minutesBefore !== undefined) await form.locator('input[name=minutesBefore]').fill(String(reminder.minutesBefore));
  await form.getByRole('button', { name: 'Create task' }).click();
  await page.locator('.task', { hasText: title }).waitFor();
}

/** The event ids shown in the feed, newest first, repeats included. */
async function feedEventIds(page: Page): Promise<string[]> {
  return page.locator('.feed-event').evaluateAll((items) => items.map((item) => item.getAttribute('data-event-id') ?? ''));
}

async function eventIdOf(taskTitle: string): Promise<string | undefined> {
  const { rows } = await withPgClient((client) =>
    client.query<{ id: string }>(`SELECT e.id::text AS id FROM events e JOIN tasks t ON t.id = e.task_id WHERE t.title = $1`, [taskTitle]),
  );
  return rows[0]?.id;
}

describe('dashboard', () => {
  it('signs in with a pasted token, fires reminders into the live feed, resumes after a server restart without gap or duplicate, and signs in with a development token', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    let server = await startServer(port);

    // The development sign-in endpoint answers bad input with a clear 4xx.
    const devToken = (body: string, method = 'POST') => fetch(`${baseUrl}/dev/token`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body } : {}) });
    expect((await devToken('{"subject":"has space"}')).status).toBe(400);
    expect((await devToken('not json')).status).toBe(400);
    expect((await devToken(JSON.stringify({ subject: 'x'.repeat(2000) }))).status).toBe(413);
    expect((await devToken('', 'GET')).status).toBe(405);
    expect((await devToken('{"subject":"ok.user"}')).status).toBe(200);

    const subject = `dashboard-${randomUUID()}`;
    const token = await signToken(TEST_JWT_SECRET, subject);
    const okUrl = sink.route('dashboard-ok', always(204));
    const failingUrl = sink.route('dashboard-failing', always(500));
    for (const url of [okUrl, failingUrl]) {
      const created = await post(baseUrl, token, DashboardTestCreateEndpoint, { input: { url } });
      expect(created.createWebhookEndpoint.__typename).toBe('CreatedWebhookEndpoint');
    }

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const violations = collectCspViolations(page);
    page.on('dialog', (dialog) => void dialog.accept());
    const response = await page.goto(`${baseUrl}/`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

    // Sign in by pasting the token.
    await page.locator('textarea[name=token]').fill(token);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.locator('.subject').textContent()).toBe(subject);
    await page.locator('.feed-status', { hasText: 'live' }).waitFor();

    // A reminder a few seconds ahead fires into the feed.
    await createTask(page, 'First reminder', { inSeconds: 3 });
    await page.locator('.feed-event', { hasText: 'First reminder' }).waitFor();
    const firstId = await eventIdOf('First reminder');
    expect(firstId).toBeDefined();
    await expect.poll(() => page.locator('.task', { hasText: 'First reminder' }).locator('.reminder-sent').count()).toBe(1);

    // The server stops (SIGTERM: its shutdown closes every WebSocket) just before the next reminder is due.
    await createTask(page, 'Fired while away', { inSeconds: 4 });
    expect(await server.stop()).toBe(0);
    await page.locator('.feed-notice', { hasText: 'Connection lost' }).waitFor();
    await page.locator('.feed-status', { hasText: 'reconnecting' }).waitFor();

    // While no server runs, a dispatcher of its own fires that reminder into the event log.
    const worker = TicklerProcess.worker(testDatabaseUrl(), PROCESS_ENV);
    processes.push(worker);
    const awayId = await eventually('the event of "Fired while away"', () => eventIdOf('Fired while away'), 30_000);
    expect(await worker.stop()).toBe(0);

    // The server comes back on the same port; the page reconnects and resumes after the last event it saw.
    server = await startServer(port);
    await page.locator('.feed-notice', { hasText: `resumed after event #${firstId}` }).waitFor({ timeout: 60_000 });
    const replayed = page.locator(`.feed-event[data-event-id="${awayId}"]`);
    await replayed.waitFor();
    await expect.poll(() => replayed.locator('.replayed').count()).toBe(1);

    // Live events still flow after the resume; and nothing was shown twice.
    await createTask(page, 'After the restart', { inSeconds: 2 });
    await page.locator('.feed-event', { hasText: 'After the restart' }).waitFor();
    const ids = await feedEventIds(page);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(ids.slice(1)).toEqual([awayId, firstId]);
    expect(await page.locator('.feed-event', { hasText: 'After the restart' }).locator('.replayed').count()).toBe(0);

    // Delivery outcomes per endpoint: three events, all delivered to one endpoint, all failed at the other.
    await page.locator(`.endpoint`, { hasText: okUrl }).locator('.badge.sent', { hasText: '3 sent' }).waitFor();
    await page.locator(`.endpoint`, { hasText: failingUrl }).locator('.badge.failed', { hasText: '3 failed' }).waitFor();
    await expect.poll(() => page.locator('.endpoint', { hasText: failingUrl }).locator('.last-delivery').textContent()).toContain('→ 500');

    // The timeline draws pending reminders only: a mark appears, and leaves when its task is cancelled.
    await createTask(page, 'Cancel me', { minutesBefore: 30 });
    const mark = page.locator('svg.timeline .timeline-mark', { hasText: 'Cancel me' });
    await mark.waitFor();
    const cancelMe = page.locator('.task', { hasText: 'Cancel me' });
    await cancelMe.getByRole('button', { name: 'Cancel' }).click();
    await cancelMe.locator('.task-status', { hasText: 'CANCELED' }).waitFor();
    await mark.waitFor({ state: 'detached' });

    await createTask(page, 'Complete me', { minutesBefore: 10 });
    const completeMe = page.locator('.task', { hasText: 'Complete me' });
    await completeMe.getByRole('button', { name: 'Complete' }).click();
    await completeMe.locator('.task-status', { hasText: 'COMPLETED' }).waitFor();
    await expect.poll(() => completeMe.locator('.reminder-canceled').count()).toBe(1);

    await cancelMe.getByRole('button', { name: 'Delete' }).click();
    await cancelMe.waitFor({ state: 'detached' });
    expect(await page.locator('.task').count()).toBe(4);


    // Something on the timeline for the screenshot: a reminder in 20 minutes, and one 15 minutes before the deadline.
    await createTask(page, 'Plan the week', { inSeconds: 1200, minutesBefore: 15 });
    await expect.poll(() => page.locator('svg.timeline .timeline-mark', { hasText: 'Plan the week' }).count()).toBe(2);
    await screenshot(page, 'dashboard.png');
    expect(violations).toEqual([]);

    // Signing out forgets the token; outside production one click signs in as another user.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('textarea[name=token]').waitFor();
    const developer = `dev-${randomUUID().slice(0, 8)}`;
    await page.locator('input[name=subject]').fill(developer);
    await page.getByRole('button', { name: 'Mint a development token' }).click();
    await expect.poll(() => page.locator('.subject').textContent()).toBe(developer);
    await page.locator('.feed-status', { hasText: 'live' }).waitFor();
    expect(await page.locator('.task').count()).toBe(0);

    expect(await server.stop()).toBe(0);
    await page.close();
  });

  it('applies only the latest answer when two refreshes overlap and the older answer arrives last', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    await startServer(port);
    const token = await signToken(TEST_JWT_SECRET, `dashboard-${randomUUID()}`);
    const okUrl = sink.route('dashboard-order', always(204));
    await post(baseUrl, token, DashboardTestCreateEndpoint, { input: { url: okUrl } });

    const page = await browser.newPage();
    await page.goto(`${baseUrl}/`);
    await page.locator('textarea[name=token]').fill(token);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('.feed-status', { hasText: 'live' }).waitFor();
    const sent = page.locator('.endpoint', { hasText: okUrl }).locator('.badge.sent');
    await expect.poll(() => sent.textContent()).toBe('0 sent');

    // From here, the first deliveries answer (the refresh after creating the task, made before the
    // reminder fires: no deliveries in it) is held back until later answers have shown the delivery
    // as sent; then it is handed over, stale.
    let releaseStale!: () => void;
    const staleMayGo = new Promise<void>((resolve) => (releaseStale = resolve));
    let staleDelivered!: () => void;
    const staleWasDelivered = new Promise<void>((resolve) => (staleDelivered = resolve));
    let deliveriesRequests = 0;
    await page.route('**/graphql', async (route) => {
      if (!(route.request().postData() ?? '').includes('DashboardDeliveries')) return route.continue();
      deliveriesRequests += 1;
      if (deliveriesRequests !== 1) return route.continue();
      const stale = await route.fetch();
      await staleMayGo;
      await route.fulfill({ response: stale });
      staleDelivered();
    });

    await createTask(page, 'Order of answers', { inSeconds: 2 });
    await page.locator('.feed-event', { hasText: 'Order of answers' }).waitFor();
    await expect.poll(() => sent.textContent(), { timeout: 30_000 }).toBe('1 sent');
    releaseStale();
    await staleWasDelivered;
    // Two animation frames: the page has handled the stale answer and rendered whatever it kept.
    await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
    expect(await sent.textContent()).toBe('1 sent');
    await page.close();
  });

  it('offers no development tokens in production', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const secret = 'a-production-secret-of-at-least-32-characters';
    await startServer(port, { NODE_ENV: 'production', JWT_SECRET: secret });
    const refused = await fetch(`http://127.0.0.1:${port}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"subject":"alice"}' });
    expect(refused.status).toBe(404);
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('textarea[name=token]').waitFor();
    expect(await page.locator('form.dev-token').count()).toBe(0);
    await page.close();
  });

  it('refuses DEV_TOKENS=true in production and turns it off by default there', () => {
    const secret = 'a-production-secret-of-at-least-32-characters';
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, DEV_TOKENS: 'true' })).toThrow(/DEV_TOKENS=true is refused/);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).devTokens).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).devTokens).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', DEV_TOKENS: 'false' }).devTokens).toBe(false);
  });
});
