/**
 * README (The dispatcher, Deliveries): a delivery claim held by a dispatcher whose heartbeat stopped for
 * its DISPATCHER_DEAD_AFTER_MS is handed back, and the retry keeps its `webhook-id` (issue 13, item 8).
 *
 * Through the real entry points with the documented variable names, on a database of its own:
 * `node dist/server/main.js` (DISPATCHER=false) migrates it and takes the API calls; `node
 * dist/dispatcher/main.js` (`npm run worker`) at the README's defaults (DISPATCHER_HEARTBEAT_MS and
 * DISPATCHER_DEAD_AFTER_MS unset: 3 s and 10 s) with WEBHOOK_ALLOW_LOOPBACK=true fires the reminder and
 * posts the webhook. The receiver holds that first request open (the worker now holds the claim), the
 * test SIGKILLs the worker, starts a second one, and the receiver answers the retry. Synchronised on the
 * receiver's requests, not on sleeps. The retry comes no sooner than dead-after after the killed worker's
 * last heartbeat (read from the dispatchers table: the dead-after path, not an early release), and the wait is bounded by dead-after + heartbeat
 * + start-up room, far below the 300 s lease (REMINDER_LEASE_SECONDS) that would otherwise free the claim.
 *
 * The same worker with SMTP_URL and EMAIL_FROM set mails a fired reminder to the token's `email` (README,
 * Webhooks and email): the documented variables parsed by the real entry point, the only dispatcher there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createScratchDatabase, withPgClient } from './helpers/database.js';
import { signToken } from '../src/auth/tokens.js';
import { startSmtpSink } from './helpers/sinks.js';
import { newUser, inSeconds, TEST_JWT_SECRET } from './helpers/server.js';
import { ROOT, childEnv, killSpawned, startServer } from './helpers/spawned-server.js';

const WORKER = path.join(ROOT, 'dist/dispatcher/main.js');
// README, Configuration: the defaults of DISPATCHER_HEARTBEAT_MS / DISPATCHER_DEAD_AFTER_MS, left unset below.
const HEARTBEAT_MS = 3000;
const DEAD_AFTER_MS = 10_000;
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

function startWorker(databaseUrl: string, env: Record<string, string> = {}): ChildProcess {
  const worker = spawn(process.execPath, [WORKER], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: childEnv({
      DATABASE_URL: databaseUrl,
      DISPATCHER_HEARTBEAT_MS: undefined,
      DISPATCHER_DEAD_AFTER_MS: undefined,
      WEBHOOK_ALLOW_LOOPBACK: 'true',
      RETENTION_INTERVAL_MINUTES: '0',
      LOG_LEVEL: 'warn',
      ...env,
    }),
  });
  workers.push(worker);
  return worker;
}

/** Makes every pending reminder of the database due now (no worker runs yet, so none is fired early). */
async function dueNow(databaseUrl: string): Promise<void> {
  await withPgClient((client) => client.query(`UPDATE reminders SET trigger_at = now() WHERE status = 'PENDING'`), databaseUrl);
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

it('hands a SIGKILLed worker\'s delivery claim to another worker after DISPATCHER_DEAD_AFTER_MS at the defaults (3 s / 10 s), under the same webhook-id', { timeout: 180_000 }, async () => {
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
      `mutation { createTask(input: { title: "crash", deadline: "${inSeconds(3600)}", reminders: [{ at: "${inSeconds(1800)}" }] }) { __typename } }`,
    );
    expect(created).toEqual({ createTask: { __typename: 'CreateTaskSuccess' } });

    await dueNow(scratch.url);
    const first = startWorker(scratch.url);
    await requestNumber(1, 60_000);
    if (first.pid === undefined) throw new Error('worker has no pid');
    process.kill(-first.pid, 'SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    // Its last heartbeat (the only dispatcher so far: the API runs none), on the database's clock, which
    // is this machine's: it is declared dead DEAD_AFTER_MS after that, not before.
    const lastHeartbeat = await withPgClient(
      async (client) => (await client.query<{ at: Date }>('SELECT heartbeat_at AS at FROM dispatchers')).rows.map((row) => row.at.getTime()),
      scratch.url,
    );
    expect(lastHeartbeat).toHaveLength(1);

    startWorker(scratch.url);
    // Far below the 300 s lease: dead-after, one heartbeat of the new worker, and 30 s for start-up on a
    // loaded machine.
    await requestNumber(2, DEAD_AFTER_MS + HEARTBEAT_MS + 30_000);
    const [held, retried] = requests;
    if (!held || !retried) throw new Error('missing requests');
    expect(retried.webhookId).toBe(held.webhookId);
    expect(retried.webhookId).toMatch(/^msg_/);
    // Not before the killed worker's last heartbeat was DEAD_AFTER_MS (10 s by default) old.
    expect(retried.at - (lastHeartbeat[0] ?? 0)).toBeGreaterThanOrEqual(DEAD_AFTER_MS);
  } finally {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});

it('npm run worker with SMTP_URL and EMAIL_FROM mails a fired reminder to the address in the token', { timeout: 120_000 }, async () => {
  const scratch = await createScratchDatabase();
  const smtp = await startSmtpSink();
  try {
    const api = await startServer({ DATABASE_URL: scratch.url, DISPATCHER: 'false', RETENTION_INTERVAL_MINUTES: '0' }, 60_000);
    const apiUrl = `http://127.0.0.1:${api.port}/graphql`;
    const subject = `worker-mail-${Date.now()}`;
    const email = `${subject}@example.com`;
    const token = await signToken(TEST_JWT_SECRET, subject, { email });
    const created = await graphql(
      apiUrl,
      token,
      `mutation { createTask(input: { title: "Mailed by the worker", deadline: "${inSeconds(3600)}", reminders: [{ at: "${inSeconds(1800)}" }] }) { __typename } }`,
    );
    expect(created).toEqual({ createTask: { __typename: 'CreateTaskSuccess' } });
    // The API server runs no dispatcher (DISPATCHER=false): only the worker can fire and mail it.
    await dueNow(scratch.url);
    startWorker(scratch.url, { SMTP_URL: smtp.url, EMAIL_FROM: 'Worker Test <worker@tickler.test>' });
    const mail = await new Promise<(typeof smtp.mails)[number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no mail within 60 s')), 60_000);
      const check = () => {
        const found = smtp.mails.find((received) => received.to.includes(email));
        if (found) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve(found);
        }
      };
      const poll = setInterval(check, 50);
    });
    expect(mail.subject).toBe('Reminder: Mailed by the worker');
    expect(mail.from).toBe('worker@tickler.test');
  } finally {
    await killSpawned();
    for (const worker of workers.splice(0)) if (worker.pid !== undefined && worker.exitCode === null) process.kill(-worker.pid, 'SIGKILL');
    await smtp.close();
    await scratch.drop();
  }
});
