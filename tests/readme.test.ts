/**
 * The README's tables and the code cannot drift apart (issue 13).
 *
 * 1. Configuration: every variable in the README's Configuration, Quotas and Sockets tables is read by
 *    src/config.ts (or src/logger.ts, for LOG_LEVEL), and its documented default is what
 *    `loadConfig({})` gives; every variable the code reads is in the Configuration table.
 * 2. Error codes: the codes the README lists are exactly schema.graphql's `ErrorCode` enum.
 * 3. Limits: the "Rules and limits" table states the literal values the limit tests enforce through the
 *    API on both sides of each boundary (limits.test.ts, readme-claims.test.ts, query-cost.test.ts,
 *    bodies.test.ts, sockets.test.ts); a README edit that changes a number fails here.
 * 4. Delivery backoff: doubling from DELIVERY_BACKOFF_BASE_MS, jittered into [½, 1) of that, at most 1 hour.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';
import { retryDelayMs } from '../src/delivery/worker.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
const configSource = await readFile(path.join(ROOT, 'src/config.ts'), 'utf8');
const loggerSource = await readFile(path.join(ROOT, 'src/logger.ts'), 'utf8');
const schema = await readFile(path.join(ROOT, 'schema.graphql'), 'utf8');

/** The rows of the first Markdown table after `heading`, as arrays of trimmed cells (header row dropped). */
function table(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading ${heading}`);
  const lines = readme.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
  }
  // Header and the --- separator.
  return rows.slice(2);
}

/** `A` / `B` → ['A', 'B']; every backticked word of a cell. */
function backticked(cell: string): string[] {
  return [...cell.matchAll(/`([^`]*)`/g)].map((match) => match[1] ?? '');
}

const defaults = loadConfig({});
const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' });

/**
 * Where each variable lands in the Config, in the unit the README documents it in. Written out by hand:
 * the test reads the variable name from the README and the value from loadConfig, never from this map.
 */
const READS: Record<string, (config: Config) => unknown> = {
  DATABASE_URL: (c) => c.databaseUrl,
  TICKLER_DATA_DIR: (c) => path.relative(process.cwd(), c.dataDir),
  EMBEDDED_PG_PORT: (c) => c.embeddedPostgresPort,
  PORT: (c) => c.port,
  HOST: (c) => c.host,
  NODE_ENV: (c) => c.nodeEnv,
  JWT_SECRET: (c) => c.jwt.secret,
  JWT_JWKS_URL: (c) => c.jwt.jwksUrl,
  JWT_ISSUER: (c) => c.jwt.issuer,
  JWT_AUDIENCE: (c) => c.jwt.audience,
  MIGRATE_ON_START: (c) => c.migrateOnStart,
  GRAPHIQL: (c) => c.graphiql,
  GRAPHQL_INTROSPECTION: (c) => c.graphql.introspection,
  GRAPHQL_SUGGESTIONS: (c) => c.graphql.suggestions,
  DEV_TOKENS: (c) => c.devTokens,
  SHUTDOWN_GRACE_SECONDS: (c) => c.shutdownGraceSeconds,
  DISPATCHER: (c) => c.dispatcher.enabled,
  DISPATCHER_BATCH_SIZE: (c) => c.dispatcher.batchSize,
  REMINDER_LEASE_SECONDS: (c) => c.dispatcher.leaseMs / 1000,
  DISPATCHER_HEARTBEAT_MS: (c) => c.dispatcher.heartbeatMs,
  DISPATCHER_DEAD_AFTER_MS: (c) => c.dispatcher.deadAfterMs,
  DISPATCHER_IDLE_POLL_MS: (c) => c.dispatcher.idlePollMs,
  DISPATCHER_POOL_SIZE: (c) => c.dispatcher.poolSize,
  LISTENER_PING_MS: (c) => c.dispatcher.listenerPingMs,
  DELIVERY_TIMEOUT_MS: (c) => c.dispatcher.deliveryTimeoutMs,
  DELIVERY_MAX_ATTEMPTS: (c) => c.dispatcher.deliveryMaxAttempts,
  DELIVERY_BACKOFF_BASE_MS: (c) => c.dispatcher.deliveryBackoffBaseMs,
  WEBHOOK_ALLOW_PRIVATE: (c) => c.webhooks.allowPrivate,
  WEBHOOK_ALLOW_LOOPBACK: (c) => c.webhooks.allowLoopback,
  SMTP_URL: (c) => c.email.smtpUrl,
  EMAIL_FROM: (c) => c.email.from,
  MAX_ACTIVE_TASKS_PER_USER: (c) => c.limits.maxActiveTasksPerUser,
  MUTATIONS_PER_MINUTE: (c) => c.limits.mutationsPerMinute,
  WS_MAX_SOCKETS_PER_USER: (c) => c.limits.socketsPerUser,
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: (c) => c.limits.subscriptionsPerSocket,
  WS_MAX_BUFFERED_BYTES: (c) => c.limits.socketBufferedBytes,
  LOCK_TIMEOUT_MS: (c) => c.limits.lockTimeoutMs,
  TRANSACTION_MAX_WAIT_MS: (c) => c.limits.transactionMaxWaitMs,
  TRANSACTION_TIMEOUT_MS: (c) => c.limits.transactionTimeoutMs,
  RETENTION_EVENTS_DAYS: (c) => c.retention.eventsDays,
  RETENTION_DELIVERIES_DAYS: (c) => c.retention.deliveriesDays,
  RETENTION_FINISHED_TASKS_DAYS: (c) => c.retention.finishedTasksDays,
  RETENTION_INTERVAL_MINUTES: (c) => c.retention.intervalMs / 60_000,
};

/** One documented default, as text, turned into the value loadConfig should give. */
function documentedValue(text: string): unknown {
  if (text.startsWith('(unset')) return undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^\d+$/.test(text)) return Number(text);
  return text;
}

/** The Configuration table: [variable, documented default text] for every variable of every row. */
function configurationRows(): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const [names = '', defaultsCell = ''] of table('## Configuration')) {
    const variables = backticked(names);
    const parts = defaultsCell.split(' / ');
    variables.forEach((variable, index) => {
      // One default for several variables (`(unset)`) applies to each.
      const part = (parts.length === 1 ? defaultsCell : parts[index]) ?? '';
      rows.push([variable, part]);
    });
  }
  return rows;
}

describe('the Configuration table and src/config.ts', () => {
  const rows = configurationRows();

  it('lists the variables the README has always named (the parser reads the table)', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
    expect(rows.map(([variable]) => variable)).toEqual(expect.arrayContaining(['DATABASE_URL', 'JWT_JWKS_URL', 'DISPATCHER_DEAD_AFTER_MS', 'RETENTION_INTERVAL_MINUTES']));
  });

  it('documents every variable the code reads, and the code reads every documented one', () => {
    const readByConfig = new Set([
      ...[...configSource.matchAll(/(?:integer|flag|optional)\(env, '([A-Z_]+)'/g)].map((match) => match[1]),
      ...[...configSource.matchAll(/\benv\.([A-Z_]+)/g)].map((match) => match[1]),
      ...[...loggerSource.matchAll(/process\.env\.([A-Z_]+)/g)].map((match) => match[1]),
    ]);
    const documented = new Set(rows.map(([variable]) => variable));
    expect([...readByConfig].filter((name) => name !== undefined && !documented.has(name)).sort()).toEqual([]);
    expect([...documented].filter((name) => !readByConfig.has(name)).sort()).toEqual([]);
  });

  it("gives each variable's documented default when the environment is empty", () => {
    const mismatches: string[] = [];
    for (const [variable, text] of rows) {
      const read = READS[variable];
      if (read === undefined) {
        // LOG_LEVEL is read by the logger, not into Config; it is checked below.
        if (variable !== 'LOG_LEVEL') mismatches.push(`${variable}: no entry in READS`);
        continue;
      }
      const value = read(defaults);
      const first = backticked(text)[0];
      let expected: unknown;
      if (variable === 'JWT_SECRET') expected = 'tickler-development-secret-do-not-use-in-production';
      else if (first === undefined) expected = documentedValue(text);
      else expected = documentedValue(first);
      if (value !== expected) mismatches.push(`${variable}: README says ${JSON.stringify(expected)}, loadConfig({}) gives ${JSON.stringify(value)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('turns the "outside production" switches off in production, as documented', () => {
    const productionSwitches = rows.filter(([, text]) => text.includes('outside production'));
    expect(productionSwitches.map(([variable]) => variable).sort()).toEqual(['DEV_TOKENS', 'GRAPHIQL', 'GRAPHQL_INTROSPECTION', 'GRAPHQL_SUGGESTIONS']);
    for (const [variable] of productionSwitches) {
      expect({ variable, development: READS[variable]?.(defaults), production: READS[variable]?.(production) }).toEqual({ variable, development: true, production: false });
    }
  });

  it('reads LOG_LEVEL with the documented default and levels', () => {
    const row = rows.find(([variable]) => variable === 'LOG_LEVEL');
    expect(row?.[1]).toBe('`info`');
    expect(loggerSource).toMatch(/process\.env\.LOG_LEVEL \?\? 'info'/);
  });

  it('agrees with the Quotas and Sockets tables, which name the same variables with their defaults', () => {
    const quoted: Array<[string, number]> = [];
    for (const [, cell = ''] of table('### Quotas, rate limits and contention')) {
      for (const match of cell.matchAll(/([\d,.]+) s? ?\(`([A-Z_]+)`\)/g)) {
        quoted.push([match[2] ?? '', Number((match[1] ?? '').replace(/,/g, ''))]);
      }
    }
    for (const [when = ''] of table('### Sockets')) {
      for (const match of when.matchAll(/`([A-Z_]+)` \(([\d.]+) ?(MiB)?\)/g)) {
        quoted.push([match[1] ?? '', Number(match[2]) * (match[3] === 'MiB' ? 1024 * 1024 : 1)]);
      }
    }
    // LOCK_TIMEOUT_MS and friends are quoted in seconds there ("2 s").
    const inUnit = (variable: string, value: number) => (variable.endsWith('_MS') ? value * 1000 : value);
    expect(quoted.map(([variable]) => variable).sort()).toEqual([
      'LOCK_TIMEOUT_MS', 'MAX_ACTIVE_TASKS_PER_USER', 'MUTATIONS_PER_MINUTE', 'TRANSACTION_MAX_WAIT_MS', 'TRANSACTION_TIMEOUT_MS',
      'WS_MAX_BUFFERED_BYTES', 'WS_MAX_SOCKETS_PER_USER', 'WS_MAX_SUBSCRIPTIONS_PER_SOCKET',
    ]);
    for (const [variable, value] of quoted) {
      expect({ variable, value: READS[variable]?.(defaults) }).toEqual({ variable, value: inUnit(variable, value) });
    }
  });
});

describe('error codes', () => {
  it('are the same in the README and in the ErrorCode enum of schema.graphql', () => {
    const start = readme.indexOf('**Errors as data.**');
    const paragraph = readme.slice(start, readme.indexOf('\n- **', start + 1));
    const listed = backticked(paragraph.slice(paragraph.indexOf('The codes are'), paragraph.indexOf('`ScheduleError.reminderId`')));
    const enumBody = /enum ErrorCode \{([^}]*)\}/.exec(schema)?.[1] ?? '';
    const inSchema = enumBody.split(/\s+/).filter((word) => /^[A-Z_]+$/.test(word));
    expect(listed.length).toBeGreaterThanOrEqual(12);
    expect([...listed].sort()).toEqual([...inSchema].sort());
  });
});

describe('the Rules and limits table', () => {
  const rules = new Map(table('### Rules and limits').map(([what = '', rule = '']) => [what, rule]));

  // Each number here is enforced through the API at exactly this value, both sides, by the test named.
  it('states 25 reminders per task (limits.test.ts: 25 taken, 26 refused, on createTask and addReminder)', () => {
    expect(rules.get('reminders per task')).toBe('25');
  });

  it('states titles of 1–200 characters and descriptions of at most 5,000 (readme-claims.test.ts: 200/201, 5,000/5,001)', () => {
    expect(rules.get('title / description')).toBe('1–200 characters (trimmed) / at most 5,000');
  });

  it('states the 10-calendar-year horizon and secondsBeforeDeadline 0 to 315,619,200 (limits.test.ts, readme-claims.test.ts)', () => {
    expect(rules.get('deadline')).toMatch(/at most 10 calendar years ahead/);
    expect(rules.get('reminder')).toMatch(/`secondsBeforeDeadline` \(0 to 315,619,200, the 3,653 days/);
  });

  it('states 2,000 tokens, 10 levels, 100 aliases, 50 directives and a cost of 25,000 (query-cost.test.ts, readme-claims.test.ts)', () => {
    expect(rules.get('one GraphQL document')).toBe('at most 2,000 tokens, 10 levels deep, 100 aliases, 50 directives, and a cost of 25,000 (see *Query cost* below)');
  });

  it('states 1 MiB bodies and 64 KiB WebSocket messages (bodies.test.ts: 1,048,576 / +1; sockets.test.ts: 65,536 / 65,537)', () => {
    expect(rules.get('request body / WebSocket message')).toMatch(/^1 MiB \(413, `PAYLOAD_TOO_LARGE`.* \/ 64 KiB \(socket closed with 1009\)$/);
  });

  it('states at most 100 tasks per page (readme-claims.test.ts: first 99 and 100 served in full, first 101 gets 100)', () => {
    expect(readme).toMatch(/a Relay connection sorted by deadline, at most 100 per page/);
  });
});

describe('delivery backoff (README: exponential backoff and jitter, at most 1 hour)', () => {
  const lowest = () => 0;
  const highest = () => 1 - Number.EPSILON;

  it('doubles from the base per attempt: 1 s, 2 s, 4 s … before jitter', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, 1000, undefined, highest))).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, 1000, undefined, lowest))).toEqual([500, 1000, 2000, 4000, 8000]);
  });

  it('jitters into [½, 1) of the exponential delay, and does vary', () => {
    const samples = Array.from({ length: 200 }, () => retryDelayMs(4, 1000));
    for (const sample of samples) {
      expect(sample).toBeGreaterThanOrEqual(4000);
      expect(sample).toBeLessThanOrEqual(8000);
    }
    expect(new Set(samples).size).toBeGreaterThan(50);
  });

  it('is at most 1 hour by default, however many attempts: 2^12 s is over it, 2^11 s is not', () => {
    // 1 s × 2^11 = 2,048 s is under an hour; 2^12 = 4,096 s is capped at 3,600 s.
    expect(retryDelayMs(12, 1000, undefined, highest)).toBe(2_048_000);
    expect(retryDelayMs(13, 1000, undefined, highest)).toBe(3_600_000);
    expect(retryDelayMs(50, 1000, undefined, highest)).toBe(3_600_000);
    expect(retryDelayMs(50, 1000, undefined, lowest)).toBe(1_800_000);
  });
});
