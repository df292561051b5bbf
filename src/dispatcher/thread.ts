/**
 * The API server's dispatcher, on a worker thread of its own (started by dispatcher-thread.ts).
 *
 * A dispatcher on the server's main thread waits behind request processing: under a full createTask
 * load every statement's answer queued for 100-200 ms on the busy event loop, so a pass of four
 * statements took about 450 ms and reminders fired that late. Here the firing loop, its LISTEN
 * wake-ups, its heartbeat and the delivery worker it owns run on this thread's event loop, with
 * their own pool (DISPATCHER_POOL_SIZE) and their own LISTEN connection; nothing the API does can
 * hold them up but the CPU itself.
 *
 * The same Dispatcher, the same SQL, the same guarantees as `npm run worker`: firing is one
 * statement, so a thread that dies strands nothing; its delivery claims go back once its heartbeat
 * stops (dead-after), as for a crashed process.
 *
 * Logs: this thread's logger (src/logger.ts) writes its own JSON lines to stdout, each with one
 * write(2) of a whole line (pino's synchronous destination), so lines of both threads never mix.
 * Metrics: this thread's prom-client registry is sent to the main thread on each scrape (no
 * process metrics here: the main thread's cover the whole process).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDispatcher, createNotifiers } from '../boot.js';
import { createDispatchClient } from '../db/client.js';
import { PgListener } from '../db/listener.js';
import { log } from '../logger.js';
import { registry } from '../metrics/registry.js';
import type { DispatcherThreadData, FromDispatcherThread, ToDispatcherThread } from './dispatcher-thread.js';

const port = parentPort;
if (!port) throw new Error('src/dispatcher/thread.ts runs as a worker thread (see dispatcher-thread.ts)');

const { config, databaseUrl } = workerData as DispatcherThreadData;
const dispatchDb = createDispatchClient(databaseUrl, config.dispatcher.poolSize);
const listener = new PgListener(databaseUrl, { pingMs: config.dispatcher.listenerPingMs });
const notifiers = createNotifiers(config);
const dispatcher = createDispatcher({ config, dispatchDb, listener, notifiers });

const send = (message: FromDispatcherThread) => port.postMessage(message);
const describe = (error: unknown) => (error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) });

/** Start and stop run one after the other: a stop that arrives during a start waits for it. */
let lifecycle: Promise<unknown> = Promise.resolve();

async function start(): Promise<void> {
  try {
    await dispatcher.start();
    send({ type: 'started', id: dispatcher.id });
  } catch (error) {
    send({ type: 'start-failed', id: dispatcher.id, error: describe(error) });
  }
}

async function stop(graceMs: number): Promise<void> {
  await dispatcher.stop(graceMs);
  await listener.close();
  await Promise.allSettled(notifiers.map((notifier) => notifier.close?.()));
  await dispatchDb.$disconnect();
  send({ type: 'stopped' });
}

port.on('message', (message: ToDispatcherThread) => {
  switch (message.type) {
    case 'start':
      lifecycle = lifecycle.then(start);
      break;
    case 'stop':
      lifecycle = lifecycle.then(() => stop(message.graceMs));
      break;
    case 'metrics':
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: 'metrics', requestId: message.requestId, metrics }),
        (error: unknown) => {
          log.warn('could not collect the dispatcher thread metrics', { dispatcher: dispatcher.id, error });
          send({ type: 'metrics', requestId: message.requestId, metrics: [] });
        },
      );
      break;
  }
});
