/**
 * Tickler's Prometheus metrics (prom-client), served at GET /metrics in the text exposition format.
 * One registry per thread (prom-client keeps its registries in module state); the GraphQL request
 * metrics come from Yoga's Prometheus plugin (src/metrics/graphql.ts), the rest are incremented where
 * the event happens, one line each. The API server's dispatcher runs on a thread of its own
 * (src/dispatcher/thread.ts): its registry is fetched on each scrape and summed with this one
 * (`addThreadMetrics`), so /metrics still shows one process's figures.
 *
 * Every label has a bounded set of values (schema field names, error codes, channels, attempt
 * numbers up to DELIVERY_MAX_ATTEMPTS): nothing a client sends becomes a label value.
 *
 * | metric | type | labels | meaning |
 * | --- | --- | --- | --- |
 * | tickler_graphql_requests_total | counter | operation_type, operation | GraphQL operations executed (HTTP and WebSocket) |
 * | tickler_graphql_request_duration_seconds | histogram | operation_type, operation | their duration |
 * | tickler_graphql_errors_total | counter | phase, code | top-level GraphQL errors (parse, validate, context, execute) by `extensions.code` |
 * | tickler_domain_errors_total | counter | code | typed errors returned as data (VALIDATION, NOT_FOUND, ...) |
 * | tickler_reminders_fired_total | counter | | reminders fired by this process's dispatcher |
 * | tickler_reminder_lateness_seconds | histogram | | fired-at minus trigger time (each reminder at its batch's largest) |
 * | tickler_claims_recovered_total | counter | | claims taken back from dead dispatchers or expired leases |
 * | tickler_deliveries_total | counter | channel, outcome, attempt | webhook/email attempts: delivered, retry, failed |
 * | tickler_subscribers | gauge | | live `reminderFired` subscriptions on this instance |
 * | tickler_websocket_sockets | gauge | | open graphql-ws sockets |
 * | tickler_db_pool_connections | gauge | state (in_use, idle, waiting) | the Prisma pool's connections, and queries waiting for one |
 * | tickler_listener_reconnects_total | counter | | LISTEN connection re-established after a loss |
 * | tickler_retention_deleted_total | counter | table | rows deleted by the retention job |
 * plus prom-client's default process metrics (CPU, memory, event-loop lag, open handles).
 */
import { isMainThread } from 'node:worker_threads';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
// Process metrics (CPU, memory, event-loop lag...) once, on the main thread: another thread's
// copies would count the process's CPU and memory twice when summed.
if (isMainThread) collectDefaultMetrics({ register: registry });

/** A registry's metrics as plain data (`registry.getMetricsAsJSON()`), as a thread sends them. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** A gauge read when scraped: the sum of every registered source (one per pool, server, hub...). */
class SampledGauge {
  private readonly sources = new Set<() => Record<string, number> | number>();

  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    const sources = this.sources;
    new Gauge<string>({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        this.reset();
        const totals = new Map<string, number>();
        for (const source of sources) {
          const sample = source();
          if (typeof sample === 'number') totals.set('', (totals.get('') ?? 0) + sample);
          else for (const [label, value] of Object.entries(sample)) totals.set(label, (totals.get(label) ?? 0) + value);
        }
        if (labelNames.length === 0) this.set(totals.get('') ?? 0);
        else for (const [label, value] of totals) this.set({ [labelNames[0] as string]: label }, value);
      },
    });
  }

  /**
   * Adds a source: a number, or for a labelled gauge `{labelValue: number}`. The returned function
   * removes it (call it when the thing closes).
   */
  track(source: () => Record<string, number> | number): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }
}

export const metrics = {
  domainErrors: new Counter({ name: 'tickler_domain_errors_total', help: 'Typed errors returned as data, by code', labelNames: ['code'], registers: [registry] }),
  remindersFired: new Counter({ name: 'tickler_reminders_fired_total', help: 'Reminders fired by this process', registers: [registry] }),
  reminderLateness: new Histogram({
    name: 'tickler_reminder_lateness_seconds',
    help: 'How late a reminder fired: fired-at minus its trigger time, in seconds',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  }),
  claimsRecovered: new Counter({ name: 'tickler_claims_recovered_total', help: 'Claims taken back from dead dispatchers or expired leases', registers: [registry] }),
  deliveries: new Counter({
    name: 'tickler_deliveries_total',
    help: 'Delivery attempts by channel (webhook, email), outcome (delivered, retry, failed) and attempt number',
    labelNames: ['channel', 'outcome', 'attempt'],
    registers: [registry],
  }),
  listenerReconnects: new Counter({ name: 'tickler_listener_reconnects_total', help: 'LISTEN connections re-established after a loss', registers: [registry] }),
  retentionDeleted: new Counter({ name: 'tickler_retention_deleted_total', help: 'Rows deleted by the retention job, by table', labelNames: ['table'], registers: [registry] }),
  subscribers: new SampledGauge('tickler_subscribers', 'Live reminderFired subscriptions on this instance'),
  sockets: new SampledGauge('tickler_websocket_sockets', 'Open graphql-ws sockets'),
  pool: new SampledGauge('tickler_db_pool_connections', 'Database pool connections in use and idle, and queries waiting for one', ['state']),
  recordFired: (count: number, maxLatenessMs: number) => recordFired(count, maxLatenessMs),
};

/**
 * Counts `count` fired reminders. The firing statement reports its batch's largest lateness only, so
 * each reminder is observed at that value: the histogram is an upper bound per reminder.
 */
export function recordFired(count: number, maxLatenessMs: number): void {
  metrics.remindersFired.inc(count);
  for (let i = 0; i < count; i++) metrics.reminderLateness.observe(Math.max(0, maxLatenessMs) / 1000);
}

const threadSources = new Set<() => Promise<MetricsSnapshot>>();

/**
 * Adds another thread's metrics to every scrape: `source` resolves with that thread's registry as
 * JSON (it must not reject; on a timeout it should answer its last snapshot). Same-named series are
 * summed (prom-client's AggregatorRegistry.aggregate), so a counter both threads define counts both.
 * The returned function removes the source.
 */
export function addThreadMetrics(source: () => Promise<MetricsSnapshot>): () => void {
  threadSources.add(source);
  return () => threadSources.delete(source);
}

/** The text a Prometheus scrape gets, and its content type. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  if (threadSources.size === 0) return { contentType: registry.contentType, body: await registry.metrics() };
  const snapshots = await Promise.all([registry.getMetricsAsJSON(), ...[...threadSources].map((source) => source())]);
  const aggregated = AggregatorRegistry.aggregate(snapshots);
  return { contentType: registry.contentType, body: await aggregated.metrics() };
}
