/**
 * Every setting Tickler reads from its environment, parsed once and checked at start-up, so a
 * misconfiguration stops the process with a clear message instead of surfacing later.
 * The README's configuration table lists the same variables.
 */
import path from 'node:path';

/** The secret `npm run token` signs with; a production server refuses to start with it. */
export const DEVELOPMENT_JWT_SECRET = 'tickler-development-secret-do-not-use-in-production';

export interface Config {
  /** `production` turns on the checks that protect a real deployment. */
  nodeEnv: string;
  port: number;
  host: string;
  /** A PostgreSQL URL; when absent Tickler starts an embedded PostgreSQL in `dataDir`. */
  databaseUrl: string | undefined;
  /** Where the embedded PostgreSQL keeps its data between restarts. */
  dataDir: string;
  embeddedPostgresPort: number;
  jwt: {
    /** HS256 shared secret; undefined when only JWKS-signed tokens are accepted. */
    secret: string | undefined;
    /** Optional JWKS endpoint of an identity provider, for RS256/ES256 tokens. */
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
  /** Serve GraphiQL at /graphql for browsers. */
  graphiql: boolean;
  graphql: {
    /** Answer introspection (`__schema`, `__type`): GraphiQL's docs and codegen need it. */
    introspection: boolean;
    /** Keep "Did you mean …?" hints in GraphQL error messages. */
    suggestions: boolean;
  };
  /** Offer POST /dev/token (one-click development sign-in on the dashboard); never in production. */
  devTokens: boolean;
  /** Apply pending migrations when the server starts. */
  migrateOnStart: boolean;
  /** Seconds to wait for in-flight requests on SIGTERM before closing connections anyway. */
  shutdownGraceSeconds: number;
  dispatcher: {
    /** Run a dispatcher inside the API server (`npm run worker` runs one alone). */
    enabled: boolean;
    batchSize: number;
    leaseMs: number;
    heartbeatMs: number;
    deadAfterMs: number;
    deliveryTimeoutMs: number;
    deliveryMaxAttempts: number;
    deliveryBackoffBaseMs: number;
    /** Connections of the dispatcher's and event hub's own pool, apart from the API's. */
    poolSize: number;
    /** Longest sleep when nothing is known to be due (a lost notification is noticed by then). */
    idlePollMs: number;
    /** The notification connection is pinged this often and must answer within as long. */
    listenerPingMs: number;
  };
  webhooks: {
    /** Allow endpoints on private networks (10/8, 192.168/16, ...); off by default (SSRF). */
    allowPrivate: boolean;
    /** Allow endpoints on 127.0.0.1/::1 (development and tests). */
    allowLoopback: boolean;
  };
  email: {
    /** smtp://user:pass@host:port or smtps://...; email notifications are off when unset. */
    smtpUrl: string | undefined;
    from: string;
  };
  /** Retention (src/maintenance/retention.ts): what is deleted after how long, and how often it runs. */
  retention: {
    /** Events older than this are deleted; also the replay window of `reminderFired(after:)`. */
    eventsDays: number;
    /** Finished deliveries (with their attempts) older than this are deleted. */
    deliveriesDays: number;
    /** Reminders of tasks finished longer ago than this are deleted (the tasks stay). */
    finishedTasksDays: number;
    /** Time between passes; 0 turns retention off on this instance. */
    intervalMs: number;
  };
  limits: LimitsConfig;
}

/**
 * Quotas, rate limits and bounds on what one client may hold (README, "Quotas and rate limits").
 * A quota or rate of 0 means unlimited.
 */
export interface LimitsConfig {
  /** Active tasks per user (`MAX_ACTIVE_TASKS_PER_USER`); createTask beyond it answers TOO_MANY_TASKS. */
  maxActiveTasksPerUser: number;
  /** Mutation fields per user per minute, shared by every instance on the database (`MUTATIONS_PER_MINUTE`). */
  mutationsPerMinute: number;
  /** Open graphql-ws sockets per user on one server instance (`WS_MAX_SOCKETS_PER_USER`). */
  socketsPerUser: number;
  /** Operations running at once on one graphql-ws socket (`WS_MAX_SUBSCRIPTIONS_PER_SOCKET`). */
  subscriptionsPerSocket: number;
  /** Bytes a socket may have queued unsent before it is closed (`WS_MAX_BUFFERED_BYTES`). */
  socketBufferedBytes: number;
  /** Row-lock wait of a change before it answers BUSY, in ms (`LOCK_TIMEOUT_MS`). */
  lockTimeoutMs: number;
  /** Wait for a free database connection before a change answers BUSY, in ms (`TRANSACTION_MAX_WAIT_MS`). */
  transactionMaxWaitMs: number;
  /** Longest a change's transaction may run, in ms (`TRANSACTION_TIMEOUT_MS`). */
  transactionTimeoutMs: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxActiveTasksPerUser: 1000,
  mutationsPerMinute: 600,
  socketsPerUser: 10,
  subscriptionsPerSocket: 50,
  socketBufferedBytes: 4 * 1024 * 1024,
  lockTimeoutMs: 2000,
  transactionMaxWaitMs: 5000,
  transactionTimeoutMs: 10_000,
};

function loadLimits(env: NodeJS.ProcessEnv): LimitsConfig {
  const limits: LimitsConfig = {
    maxActiveTasksPerUser: integer(env, 'MAX_ACTIVE_TASKS_PER_USER', DEFAULT_LIMITS.maxActiveTasksPerUser, 0, 10_000_000),
    mutationsPerMinute: integer(env, 'MUTATIONS_PER_MINUTE', DEFAULT_LIMITS.mutationsPerMinute, 0, 10_000_000),
    socketsPerUser: integer(env, 'WS_MAX_SOCKETS_PER_USER', DEFAULT_LIMITS.socketsPerUser, 0, 100_000),
    subscriptionsPerSocket: integer(env, 'WS_MAX_SUBSCRIPTIONS_PER_SOCKET', DEFAULT_LIMITS.subscriptionsPerSocket, 1, 100_000),
    socketBufferedBytes: integer(env, 'WS_MAX_BUFFERED_BYTES', DEFAULT_LIMITS.socketBufferedBytes, 64 * 1024, 1024 * 1024 * 1024),
    lockTimeoutMs: integer(env, 'LOCK_TIMEOUT_MS', DEFAULT_LIMITS.lockTimeoutMs, 1, 600_000),
    transactionMaxWaitMs: integer(env, 'TRANSACTION_MAX_WAIT_MS', DEFAULT_LIMITS.transactionMaxWaitMs, 1, 600_000),
    transactionTimeoutMs: integer(env, 'TRANSACTION_TIMEOUT_MS', DEFAULT_LIMITS.transactionTimeoutMs, 1, 3_600_000),
  };
  if (limits.transactionTimeoutMs <= limits.lockTimeoutMs) {
    throw new ConfigError('TRANSACTION_TIMEOUT_MS must exceed LOCK_TIMEOUT_MS, or a change waiting on a lock would hit the transaction timeout first');
  }
  return limits;
}

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** DEV_TOKENS: on by default outside production when there is an HS256 secret to sign with; refused in production. */
function devTokens(env: NodeJS.ProcessEnv, production: boolean, secret: string | undefined): boolean {
  const wanted = flag(env, 'DEV_TOKENS', !production && secret !== undefined);
  if (wanted && production) throw new ConfigError('DEV_TOKENS=true is refused with NODE_ENV=production: anyone could sign in as anyone');
  if (wanted && secret === undefined) throw new ConfigError('DEV_TOKENS=true needs JWT_SECRET: development tokens are HS256-signed');
  return wanted;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? 'development';
  const configuredSecret = optional(env, 'JWT_SECRET');
  const jwksUrl = optional(env, 'JWT_JWKS_URL');
  const production = nodeEnv === 'production';
  if (production && configuredSecret === DEVELOPMENT_JWT_SECRET) {
    throw new ConfigError('NODE_ENV=production with the development JWT_SECRET: refusing to start');
  }
  if (production && configuredSecret === undefined && jwksUrl === undefined) {
    throw new ConfigError('NODE_ENV=production needs JWT_SECRET or JWT_JWKS_URL: refusing to start with the development secret');
  }
  if (configuredSecret !== undefined && configuredSecret.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters long');
  }
  // Outside production the development secret is accepted so `npm run token` works out of the box.
  const secret = configuredSecret ?? (production ? undefined : DEVELOPMENT_JWT_SECRET);
  const heartbeatMs = integer(env, 'DISPATCHER_HEARTBEAT_MS', 3000, 100, 60_000);
  const deadAfterMs = integer(env, 'DISPATCHER_DEAD_AFTER_MS', 10_000, 500, 600_000);
  if (deadAfterMs < 2 * heartbeatMs) {
    throw new ConfigError('DISPATCHER_DEAD_AFTER_MS must be at least twice DISPATCHER_HEARTBEAT_MS, or live dispatchers would be declared dead');
  }
  return {
    nodeEnv,
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    databaseUrl: optional(env, 'DATABASE_URL'),
    dataDir: path.resolve(env.TICKLER_DATA_DIR ?? '.tickler'),
    embeddedPostgresPort: integer(env, 'EMBEDDED_PG_PORT', 54329, 1, 65535),
    jwt: {
      secret,
      jwksUrl,
      issuer: optional(env, 'JWT_ISSUER'),
      audience: optional(env, 'JWT_AUDIENCE'),
    },
    graphiql: flag(env, 'GRAPHIQL', !production),
    graphql: {
      introspection: flag(env, 'GRAPHQL_INTROSPECTION', !production),
      suggestions: flag(env, 'GRAPHQL_SUGGESTIONS', !production),
    },
    devTokens: devTokens(env, production, secret),
    migrateOnStart: flag(env, 'MIGRATE_ON_START', true),
    shutdownGraceSeconds: integer(env, 'SHUTDOWN_GRACE_SECONDS', 10, 0, 600),
    dispatcher: {
      enabled: flag(env, 'DISPATCHER', true),
      batchSize: integer(env, 'DISPATCHER_BATCH_SIZE', 500, 1, 10_000),
      leaseMs: integer(env, 'REMINDER_LEASE_SECONDS', 300, 1, 86_400) * 1000,
      heartbeatMs,
      deadAfterMs,
      deliveryTimeoutMs: integer(env, 'DELIVERY_TIMEOUT_MS', 10_000, 100, 120_000),
      deliveryMaxAttempts: integer(env, 'DELIVERY_MAX_ATTEMPTS', 8, 1, 50),
      deliveryBackoffBaseMs: integer(env, 'DELIVERY_BACKOFF_BASE_MS', 1000, 1, 3_600_000),
      poolSize: integer(env, 'DISPATCHER_POOL_SIZE', 4, 2, 100),
      idlePollMs: integer(env, 'DISPATCHER_IDLE_POLL_MS', 10_000, 100, 3_600_000),
      listenerPingMs: integer(env, 'LISTENER_PING_MS', 2000, 100, 60_000),
    },
    webhooks: {
      allowPrivate: flag(env, 'WEBHOOK_ALLOW_PRIVATE', false),
      allowLoopback: flag(env, 'WEBHOOK_ALLOW_LOOPBACK', false),
    },
    email: {
      smtpUrl: optional(env, 'SMTP_URL'),
      from: env.EMAIL_FROM ?? 'Tickler <reminders@tickler.invalid>',
    },
    retention: {
      eventsDays: integer(env, 'RETENTION_EVENTS_DAYS', 30, 1, 3650),
      deliveriesDays: integer(env, 'RETENTION_DELIVERIES_DAYS', 30, 1, 3650),
      finishedTasksDays: integer(env, 'RETENTION_FINISHED_TASKS_DAYS', 90, 1, 3650),
      intervalMs: integer(env, 'RETENTION_INTERVAL_MINUTES', 60, 0, 10_080) * 60_000,
    },
    limits: loadLimits(env),
  };
}
