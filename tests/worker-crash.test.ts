/**
 * README (The dispatcher, Deliveries): a delivery claim held by a dispatcher whose heartbeat stopped for
 * its DISPATCHER_DEAD_AFTER_MS is handed back, and the retry keeps its `webhook-id` (issue 13, item 8).
 *
 * Through the real entry points with the documented variable names, on a database of its own:
 * `node dist/server/main.js` (DISPATCHER=false) migrates it and takes the API calls; `node
 * dist/dispatcher/main.js` (`npm run worker`) with DISPATCHER_HEARTBEAT_MS=1000,
 * DISPATCHER_DEAD_AFTER_MS=3000 and WEBHOOK_ALLOW_LOOPBACK=true fires the reminder and posts the webhook.
 * The receiver holds that first request open (the worker now holds the claim), the test SIGKILLs the
 * worker, starts a second one, and the receiver answers the retry. Synchronised on the receiver's
 * requests, not on sleeps; the bound is derived from the settings (dead-after + heartbeat + a wide margin),
 * far below the 300 s lease that would otherwise free the claim.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createScratchDatabase } from './helpers/database.js';
import { newUser, inSeconds } from './helpers/server.js';
import { ROOT, childEnv, killSpawned, startServer } from './helpers/spawned-server.js';

const WORKER = path.join(ROOT, 'dist/dispatcher/main.js');
const HEARTBEAT_MS = 1000;
const DEAD_AFTER_MS = 3000;
const workers: ChildProcess[] = [];
let dropDatabase: (() => Promise<void>) | undefined;

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    if (worker.exitCode === null && worker.signalCode === null && worker.pid !== undefined) {
      try {
        process.kill(-worker.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  await killSpawned();
});

afterAll(async () => {
  await dropDatabase?.();
});

function startWorker(databaseUrl: string): ChildProcess {
  const worker = spawn(process.execPath, [WORKER], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: childEnv({
      DATABASE_URL: databaseUrl,
      DISPATCHER_HEARTBEAT_MS: String(HEARTBEAT_MS),
      DISPATCHER_DEAD_AFTER_MS: String(DEAD_AFTER_MS),
      WEBHOOK_ALLOW_LOOPBACK: 'true',
      RETENTION_INTERVAL_MINUTES: '0',
      LOG_LEVEL: 'warn',
    }),
  });
  workers.push(worker);
  return worker;
}

async function graphql(url: string, token: string, query: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
  if (body.errors !== undefined || body.data === undefined) throw new Error(JSON.stringify(body));
  return body.data;
}

it('hands a SIGKILLed worker\'s delivery claim to another worker within about DISPATCHER_DEAD_AFTER_MS, under the same webhook-id', { timeout: 180_000 }, async () => {
  const scratch = await createScratchDatabase();
  dropDatabase = scratch.drop;

  // The receiver: holds the first request open (the claim stays with its worker), answers later ones.
  const requests: Array<{ webhookId: string; at: number }> = [];
  const arrivals: Array<() => void> = [];
  const receiver = http.createServer((request, response) => {
    request.resume();
    requests.push({ webhookId: String(request.headers['webhook-id']), at: Date.now() });
    for (const notify of arrivals.splice(0)) notify();
    if (requests.length === 1) return; // never answered: the worker is killed holding it
    response.writeHead(200).end('ok');
  });
  const requestNumber = (count: number, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no request ${count} within ${timeoutMs} ms (have ${requests.length})`)), timeoutMs);
      const check = () => {
        if (requests.length >= count) {
          clearTimeout(timer);
          resolve();
        } else arrivals.push(check);
      };
      check();
    });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const api = await startServer({ DATABASE_URL: scratch.url, DISPATCHER: 'false', WEBHOOK_ALLOW_LOOPBACK: 'true', RETENTION_INTERVAL_MINUTES: '0' }, 60_000);
    const apiUrl = `http://127.0.0.1:${api.port}/graphql`;
    const user = await newUser('worker-crash');
    const endpoint = await graphql(apiUrl, user.token, `mutation { createWebhookEndpoint(input: { url: "${hookUrl}" }) { __typename } }`);
    expect(endpoint).toEqual({ createWebhookEndpoint: { __typename: 'CreatedWebhookEndpoint' } });
    const created = await graphql(
      apiUrl,
      user.token,
      `mutation { createTask(input: { title: "crash", deadline: "${inSeconds(3600)}", reminders: [{ at: "${inSeconds(2)}" }] }) { __typename } }`,
    );
    expect(created).toEqual({ createTask: { __typename: 'CreateTaskSuccess' } });

    const first = startWorker(scratch.url);
    await requestNumber(1, 60_000);
    const killedAt = Date.now();
    if (first.pid === undefined) throw new Error('worker has no pid');
    process.kill(-first.pid, 'SIGKILL');

    startWorker(scratch.url);
    // Far below the 300 s lease: dead-after, one heartbeat of the new worker, and 30 s for start-up on a
    // loaded machine.
    await requestNumber(2, DEAD_AFTER_MS + HEARTBEAT_MS + 30_000);
    const [held, retried] = requests;
    if (!held || !retried) throw new Error('missing requests');
    expect(retried.webhookId).toBe(held.webhookId);
    expect(retried.webhookId).toMatch(/^msg_/);
    // Not before the killed worker's last heartbeat (at most one period before the kill) was DEAD_AFTER_MS old.
    expect(retried.at - killedAt).toBeGreaterThanOrEqual(DEAD_AFTER_MS - HEARTBEAT_MS);
  } finally {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
