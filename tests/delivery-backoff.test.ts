/**
 * README (Webhooks and email; Configuration): a failed webhook is retried "with exponential backoff and
 * jitter", from DELIVERY_BACKOFF_BASE_MS (1000) doubling per attempt, "at most 1 hour" (issue 13, item
 * 8). readme.test.ts pins `retryDelayMs` itself; this pins what the delivery worker does with its
 * defaults: a receiver answering 503 gets each delivery back with next_attempt_at set from the attempt
 * just made. The worker runs with every backoff default; only maxAttempts is raised so that a delivery on
 * its 21st attempt is retried rather than FAILED. Expected windows are the README's numbers:
 *   attempt 1  → [0.5 s, 1 s)       (1 s, jittered into [½, 1))
 *   attempt 21 → [30 min, 60 min)   (2^20 s capped at 1 hour, jittered)
 * Waited on the delivery_attempts rows (an observable signal), never slept on.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withPgClient } from './helpers/database.js';
import { WebhookNotifier } from '../src/notifiers/webhook.js';
import {
  always,
  createIsolatedDatabase,
  eventually,
  startDispatcher,
  startWebhookSink,
  type IsolatedDatabase,
  type RunningDispatcher,
  type WebhookSink,
} from './helpers/sinks.js';

let database: IsolatedDatabase;
let sink: WebhookSink;
let dispatcher: RunningDispatcher | undefined;

beforeAll(async () => {
  database = await createIsolatedDatabase();
  sink = await startWebhookSink();
});

afterAll(async () => {
  await dispatcher?.stop();
  await sink?.close();
  await database?.drop();
});

it('retries a failed webhook after 0.5-1 s on its first attempt and 30-60 min on its 21st (doubling from 1 s, jittered, at most 1 hour)', { timeout: 60_000 }, async () => {
  const url = sink.route('backoff', always(503));
  const ids = await withPgClient(async (client) => {
    const user = (await client.query<{ id: string }>(`INSERT INTO users (subject) VALUES ('backoff') RETURNING id`)).rows[0]?.id;
    const endpoint = (await client.query<{ id: string }>(`INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, $2, 'whsec_dGVzdHNlY3JldA==') RETURNING id`, [user, url])).rows[0]?.id;
    // One delivery per event and endpoint: each gets its own event. attempt counts attempts made; the
    // claim makes the next one: 0 → attempt 1; 20 → attempt 21.
    const insert = async (made: number) => {
      const event = (await client.query<{ id: string }>(
        `INSERT INTO events (user_id, task_id, reminder_id, type, payload)
         VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'reminder.fired', jsonb_build_object('taskTitle', 't', 'deadline', '', 'triggerAt', '', 'firedAt', ''))
         RETURNING id::text`,
        [user],
      )).rows[0]?.id;
      return client.query<{ id: string }>(
        `INSERT INTO deliveries (event_id, user_id, channel, endpoint_id, attempt) VALUES ($1::bigint, $2, 'WEBHOOK', $3, $4) RETURNING id`,
        [event, user, endpoint, made],
      );
    };
    return { first: (await insert(0)).rows[0]?.id ?? '', late: (await insert(20)).rows[0]?.id ?? '' };
  }, database.url);

  dispatcher = await startDispatcher(database.url, {
    delivery: { maxAttempts: 30 },
    notifiers: [new WebhookNotifier({ policy: { allowPrivate: false, allowLoopback: true } })],
  });

  /** Seconds from the attempt's time to the delivery's next attempt, once the attempt is recorded. */
  const retryAfterSeconds = (id: string, attempt: number) =>
    eventually(`attempt ${attempt} of ${id} to be recorded`, () =>
      withPgClient(async (client) => {
        const { rows } = await client.query<{ status: string; seconds: number }>(
          `SELECT d.status::text AS status, extract(epoch FROM d.next_attempt_at - a.attempted_at)::float8 AS seconds
           FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id AND a.attempt = d.attempt
           WHERE d.id = $1 AND d.status = 'PENDING' AND d.attempt = $2`,
          [id, attempt],
        );
        return rows[0];
      }, database.url),
      20_000,
      // Read before the next attempt (0.5 s at the earliest) replaces it.
      10,
    );

  const [first, late] = await Promise.all([retryAfterSeconds(ids.first, 1), retryAfterSeconds(ids.late, 21)]);
  console.log(`backoff: attempt 1 retried after ${first.seconds} s, attempt 21 after ${late.seconds} s`);
  // Small slack for the clock between the attempt's timestamp and the outcome's (milliseconds apart).
  expect(first.seconds).toBeGreaterThanOrEqual(0.5 - 0.1);
  expect(first.seconds).toBeLessThan(1 + 0.1);
  expect(late.seconds).toBeGreaterThanOrEqual(1800 - 1);
  expect(late.seconds).toBeLessThan(3600 + 1);
});
