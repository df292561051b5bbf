/**
 * GraphiQL at /graphql, in Debian's headless Chromium, against Tickler run as `npm start` runs it.
 * Its scripts and styles come from our own dependencies (@graphql-yoga/render-graphiql): the page
 * must work with every request outside this machine refused. Subscriptions run from it over
 * server-sent events (GraphiQL's default), with the token from its Headers tab.
 */
import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/tokens.js';
import { testDatabaseUrl } from '../helpers/database.js';
import { freePort, launchChromium, screenshot, TicklerProcess } from '../helpers/browser.js';
import { CreateTask } from '../helpers/operations.js';
import { TEST_JWT_SECRET } from '../helpers/server.js';
import { eventually } from '../helpers/sinks.js';

let browser: Browser;
let server: TicklerProcess;
let baseUrl: string;

beforeAll(async () => {
  browser = await launchChromium();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  server = TicklerProcess.server(port, testDatabaseUrl());
  await server.waitForLog((line) => line.msg === 'dispatcher started', 'the dispatcher to start');
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.kill();
});

/** The server's live reminderFired subscriptions, from its /metrics (tickler_subscribers). */
async function subscribers(): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(text.split('\n').find((line) => line.startsWith('tickler_subscribers '))?.split(' ')[1] ?? Number.NaN);
}

/** Opens GraphiQL with every request that leaves 127.0.0.1 refused, and returns what was refused. */
async function openOffline(): Promise<{ page: Page; refused: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const refused: string[] = [];
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '127.0.0.1') {
      refused.push(url.href);
      return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  await page.goto(`${baseUrl}/graphql`);
  await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
  return { page, refused };
}

/**
 * Replaces the text of a Monaco editor the way a person would: select all, type. Monaco closes
 * brackets and quotes as they are typed; what it added after the cursor is removed at the end.
 */
async function typeInto(page: Page, editor: ReturnType<Page['locator']>, text: string): Promise<void> {
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text);
  await page.keyboard.press('Shift+Control+End');
  await page.keyboard.press('Delete');
}

async function withAuthorization(page: Page, token: string): Promise<void> {
  await page.getByRole('button', { name: 'Headers' }).click();
  await typeInto(page, page.locator('.graphiql-editor-tool .monaco-editor').last(), `{"authorization": "Bearer ${token}"}`);
}

describe('GraphiQL served from our own dependencies', () => {
  it('loads with no request leaving the machine', { timeout: 60_000 }, async () => {
    const { page, refused } = await openOffline();
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).waitFor();
    expect(refused).toEqual([]);
    await page.close();
  });

  it('answers a query sent with the Authorization header from the Headers tab', { timeout: 60_000 }, async () => {
    const subject = `graphiql-${randomUUID()}`;
    const token = await signToken(TEST_JWT_SECRET, subject);
    const { page, refused } = await openOffline();
    await withAuthorization(page, token);
    await typeInto(page, page.locator('.graphiql-query-editor .monaco-editor'), '{ viewer { subject } }');
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    await page.locator('.graphiql-response', { hasText: subject }).waitFor();
    expect(await page.locator('.graphiql-response').textContent()).toContain('"subject"');
    expect(refused).toEqual([]);
    await page.close();
  });

  it('runs a reminderFired subscription with the Headers tab token and shows the event', { timeout: 90_000 }, async () => {
    const subject = `graphiql-sub-${randomUUID()}`;
    const token = await signToken(TEST_JWT_SECRET, subject);
    const title = `graphiql event ${randomUUID()}`;
    const { page, refused } = await openOffline();
    await withAuthorization(page, token);
    await typeInto(page, page.locator('.graphiql-query-editor .monaco-editor'), 'subscription { reminderFired { id taskTitle } }');
    const subscribersBefore = await subscribers();
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    // The stream is open on the server (its hub counts one more subscriber) before the reminder is made.
    await eventually('GraphiQL\'s subscription to reach the server', async () => ((await subscribers()) > subscribersBefore ? true : undefined), 30_000, 50);
    const created = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: print(CreateTask),
        variables: { input: { title, deadline: new Date(Date.now() + 3_600_000).toISOString(), reminders: [{ at: new Date(Date.now() + 3000).toISOString() }] } },
      }),
    });
    expect(((await created.json()) as { data?: { createTask: { __typename: string } } }).data?.createTask.__typename).toBe('CreateTaskSuccess');
    await page.locator('.graphiql-response', { hasText: title }).waitFor({ timeout: 60_000 });
    expect(await page.locator('.graphiql-response').textContent()).toContain('"reminderFired"');
    await screenshot(page, 'graphiql-subscription.png');
    expect(refused).toEqual([]);
    await page.close();
  });

  it('lists Task in the Docs pane', { timeout: 60_000 }, async () => {
    const { page } = await openOffline();
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    // The root of the Docs pane lists every type of the schema (introspection, with GraphiQL's standard query).
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.getByText('All Schema Types').waitFor();
    await docs.getByText('Task', { exact: true }).first().click();
    // The type's own page: its fields.
    await docs.getByText('reminders', { exact: true }).waitFor();
    await screenshot(page, 'graphiql-docs.png');
    await page.close();
  });
});
