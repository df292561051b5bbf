/**
 * What the subscription and delivery tests run against, all real and all on 127.0.0.1:
 *
 * - an isolated, migrated scratch database per test file, so the dispatchers these files start
 *   fire and deliver only their own reminders (and never other files', or each other's: a
 *   dispatcher without an EMAIL notifier firing a reminder creates no email delivery for it);
 * - Tickler API instances on it: `startInstance` in ./server.js;
 * - in-process dispatchers with test timings;
 * - webhook receivers (node:http) whose answer is scripted per path, and an SMTP receiver
 *   (smtp-server) that keeps every mail.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createDispatchClient } from '../../src/db/client.js';
import { PgListener } from '../../src/db/listener.js';
import { migrate } from '../../src/db/migrate.js';
import { Dispatcher, type DispatcherOptions } from '../../src/dispatcher/dispatcher.js';
import { createScratchDatabase } from './database.js';
import type { RunningServer } from './server.js';

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns something other than undefined, and returns that; fails with
 * `what` after `timeoutMs`. The probe may be async (an API query).
 */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Database, API instances, dispatchers
// ---------------------------------------------------------------------------------------------

export interface IsolatedDatabase {
  url: string;
  drop: () => Promise<void>;
}

/** A scratch database with every migration applied. */
export async function createIsolatedDatabase(): Promise<IsolatedDatabase> {
  const scratch = await createScratchDatabase();
  await migrate(scratch.url);
  return scratch;
}

/** Test timings: a quick idle poll and heartbeat, fast retries with few attempts, a short timeout. */
export const FAST_DISPATCHER: DispatcherOptions = {
  idlePollMs: 500,
  heartbeatMs: 1000,
  delivery: { timeoutMs: 2000, maxAttempts: 3, backoffBaseMs: 50, backoffMaxMs: 500 },
};

export interface RunningDispatcher {
  dispatcher: Dispatcher;
  stop: () => Promise<void>;
}

/**
 * A started dispatcher. Pass `shared` to run it next to an instance (its pool and LISTEN
 * connection), as a combined deployment would; otherwise it gets its own.
 */
export async function startDispatcher(
  databaseUrl: string,
  options: DispatcherOptions,
  shared?: Pick<RunningServer, 'db' | 'listener'>,
): Promise<RunningDispatcher> {
  const db = shared?.db ?? createDispatchClient(databaseUrl);
  const listener = shared?.listener ?? new PgListener(databaseUrl);
  const dispatcher = new Dispatcher(db, listener, options);
  await dispatcher.start();
  return {
    dispatcher,
    stop: async () => {
      await dispatcher.stop(2000);
      for (const notifier of options.notifiers ?? []) await notifier.close?.();
      if (!shared) {
        await listener.close();
        await db.$disconnect();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver
// ---------------------------------------------------------------------------------------------

export interface ReceivedWebhook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Date.now() when the whole request had arrived. */
  receivedAt: number;
  /** Date.now() when the answer was written; undefined while it is still pending. */
  answeredAt?: number;
  status?: number;
}

/** How a path answers its n-th request (0-based): a status, after an optional delay. */
export type WebhookBehaviour = (index: number) => { status: number; delayMs?: number };

export const always =
  (status: number): WebhookBehaviour =>
  () => ({ status });

/** Answers with `statuses[n]`, and with the last one from then on. */
export const sequence =
  (...statuses: number[]): WebhookBehaviour =>
  (index) => ({ status: statuses[Math.min(index, statuses.length - 1)] ?? 200 });

export const slow =
  (delayMs: number, status = 200): WebhookBehaviour =>
  () => ({ status, delayMs });

export interface WebhookSink {
  base: string;
  received: ReceivedWebhook[];
  /** A fresh path on this sink answering as `behaviour` (200 when none is given), as a full URL. */
  route: (name: string, behaviour?: WebhookBehaviour) => string;
  requestsTo: (url: string) => ReceivedWebhook[];
  close: () => Promise<void>;
}

export async function startWebhookSink(): Promise<WebhookSink> {
  const received: ReceivedWebhook[] = [];
  const behaviours = new Map<string, WebhookBehaviour>();
  const timers = new Set<NodeJS.Timeout>();
  let routes = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const behaviour = behaviours.get(path) ?? always(404);
      const index = received.filter((entry) => entry.path === path).length;
      const entry: ReceivedWebhook = { path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now() };
      received.push(entry);
      const { status, delayMs = 0 } = behaviour(index);
      const answer = (): void => {
        if (response.destroyed) return;
        entry.answeredAt = Date.now();
        entry.status = status;
        response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      };
      if (delayMs === 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, delayMs);
      timers.add(timer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    route: (name, behaviour = always(200)) => {
      routes += 1;
      const path = `/${name}-${routes}`;
      behaviours.set(path, behaviour);
      return `${base}${path}`;
    },
    requestsTo: (url) => {
      const path = new URL(url).pathname;
      return received.filter((entry) => entry.path === path);
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SMTP receiver
// ---------------------------------------------------------------------------------------------

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The Subject header, unfolded (titles are plain ASCII in these tests). */
  subject: string;
  /** Date.now() when the whole message had arrived. */
  receivedAt: number;
}

export interface SmtpSink {
  url: string;
  mails: ReceivedMail[];
  close: () => Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const head = raw.split(/\r\n\r\n/)[0] ?? '';
        const subject = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(head)?.[1]?.replace(/\r\n[ \t]/g, ' ') ?? '';
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((entry) => entry.address),
          raw,
          subject,
          receivedAt: Date.now(),
        });
        callback();
      });
    },
  });
  smtp.listen(0, '127.0.0.1');
  await once(smtp.server, 'listening');
  return {
    url: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
    mails,
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}
