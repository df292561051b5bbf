/**
 * The per-user mutation rate limit: `MUTATIONS_PER_MINUTE` mutation fields per user per fixed
 * one-minute window, counted in PostgreSQL (table `rate_limits`) so that every server instance on
 * the database shares one budget. rate-limiter-flexible does the counting (its PostgreSQL store: one
 * atomic `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per request); we hand it our Prisma
 * client instead of a second connection pool.
 *
 * Over the limit, the whole operation is refused before any resolver runs, over HTTP (status 429
 * with `Retry-After`) and over graphql-ws alike, with one top-level error:
 * `{ message, extensions: { code: "RATE_LIMITED", retryAfterSeconds, limit } }`. Nothing is written.
 * Queries and subscriptions are not counted. If the database cannot count, an in-memory limiter
 * with the same budget per instance stands in (the library's "insurance" limiter), so a limiter
 * failure neither opens the gate nor refuses everyone.
 */
import { GraphQLError, Kind, getOperationAST, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from '../db/client.js';
import type { Context } from '../graphql/context.js';
import { log } from '../logger.js';

const WINDOW_SECONDS = 60;

/**
 * The query interface rate-limiter-flexible's PostgreSQL store calls (`pg`'s `client.query` shape),
 * over Prisma. Raw queries return BIGINT as bigint; the store does arithmetic with numbers.
 */
function prismaStoreClient(db: Database) {
  return {
    query: async ({ text, values = [] }: { text: string; values?: unknown[] }) => {
      const rows = await db.$queryRawUnsafe<Array<Record<string, unknown>>>(text, ...values);
      const converted = rows.map((row) =>
        Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'bigint' ? Number(value) : value])),
      );
      return { rows: converted, rowCount: converted.length };
    },
  };
}

/** Mutation fields at the operation's root (fragments included), the points one request costs. */
function rootFieldCount(selectionSet: SelectionSetNode, document: DocumentNode, seen = new Set<string>()): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '__typename') count += 1;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += rootFieldCount(selection.selectionSet, document, seen);
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) count += rootFieldCount(fragment.selectionSet, document, seen);
    }
  }
  return count;
}

function rateLimited(limit: number, retryAfterSeconds: number): GraphQLError {
  return new GraphQLError(`rate limit: at most ${limit} mutations per minute; retry after ${retryAfterSeconds} s`, {
    extensions: {
      code: 'RATE_LIMITED',
      retryAfterSeconds,
      limit,
      http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } },
    },
  });
}

/** A Yoga (envelop) plugin enforcing `mutationsPerMinute` per user; 0 turns it off. */
export function mutationRateLimit(db: Database, mutationsPerMinute: number): Plugin | null {
  if (mutationsPerMinute === 0) return null;
  const limiter = new RateLimiterPostgres({
    storeClient: prismaStoreClient(db),
    storeType: 'client',
    tableName: 'rate_limits',
    // The table comes from our migrations (20261130110000_rate_limits).
    tableCreated: true,
    keyPrefix: 'mutations',
    points: mutationsPerMinute,
    duration: WINDOW_SECONDS,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: 'mutations', points: mutationsPerMinute, duration: WINDOW_SECONDS }),
  });

  return {
    onExecute: async ({ args, setResultAndStopExecution }) => {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      const viewer = (args.contextValue as Partial<Context> | undefined)?.viewer;
      // Without a viewer every mutation is refused as UNAUTHENTICATED anyway.
      if (!viewer) return;
      const points = Math.max(1, rootFieldCount(operation.selectionSet, args.document));
      try {
        await limiter.consume(viewer.userId, points);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          setResultAndStopExecution({ errors: [rateLimited(mutationsPerMinute, Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)))] });
          return;
        }
        // Both stores failed: let the mutation run rather than refuse everyone.
        log.error('rate limiter unavailable', { error: rejection });
      }
    },
  };
}
