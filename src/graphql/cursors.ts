/**
 * Keyset cursors for every Relay connection. A cursor carries the position itself, the row's sort
 * key and id (`base64url(JSON ["Task", "2030-04-15T17:00:00.000Z", "<uuid>"])`), never a reference
 * to a row that the server would look up. Paging after a cursor is then `(key, id) > (cursor)` over
 * the caller's own rows only, so the answer depends on nothing but the cursor's content and the
 * caller's data: a cursor forged from another user's task, a random one, and one whose row was
 * deleted all page exactly like any other position. A string that is not such a cursor, or is one
 * of another connection, is refused with a VALIDATION error naming the argument.
 *
 * Cursors are opaque to clients; their format may change between versions.
 */
import { GraphQLError } from 'graphql';
import { isUuid } from '../domain/ownership.js';
import { isSupportedInstant } from './types/date-time.js';

/** The connection a cursor belongs to; a Task cursor is refused by `deliveries`, and vice versa. */
export type CursorKind = 'Task' | 'Delivery';

/** A row's position in its connection's order. */
export interface CursorPosition {
  key: Date;
  id: string;
}

const ISO_MILLISECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Longer than any cursor this module makes; anything longer is not worth decoding. */
const MAX_CURSOR_LENGTH = 200;

export function encodeCursor(kind: CursorKind, position: CursorPosition): string {
  return Buffer.from(JSON.stringify([kind, position.key.toISOString(), position.id]), 'utf8').toString('base64url');
}

/**
 * The position in `cursor`, or a VALIDATION error (`extensions.field` = `argument`) when it is not a
 * cursor of `kind`.
 */
export function decodeCursor(kind: CursorKind, cursor: string, argument: 'after' | 'before'): CursorPosition {
  const refuse = () =>
    new GraphQLError(`\`${argument}\` is not a cursor of this connection`, { extensions: { code: 'VALIDATION', field: argument } });
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+={0,2}$|^[A-Za-z0-9+/]+={0,2}$/.test(cursor)) throw refuse();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) throw refuse();
  const [cursorKind, key, id] = decoded as unknown[];
  if (cursorKind !== kind || typeof key !== 'string' || typeof id !== 'string') throw refuse();
  const time = new Date(key);
  // Within the DateTime range: PostgreSQL cannot compare a year-0 key a Date would carry.
  if (!ISO_MILLISECONDS.test(key) || !isSupportedInstant(time) || time.toISOString() !== key || !isUuid(id)) throw refuse();
  return { key: time, id: id.toLowerCase() };
}

/**
 * The Prisma condition "strictly after `position`" (or before) in the order `key, id`, for a model
 * whose sort key is `field`. With `descending`, "after" means an earlier key.
 */
export function keysetCondition<Field extends string>(
  field: Field,
  position: CursorPosition,
  direction: 'gt' | 'lt',
): { OR: Array<Record<Field, { gt: Date } | { lt: Date }> | (Record<Field, Date> & { id: { gt: string } | { lt: string } })> } {
  const beyondKey = { [field]: direction === 'gt' ? { gt: position.key } : { lt: position.key } } as Record<Field, { gt: Date } | { lt: Date }>;
  const sameKey = { [field]: position.key } as Record<Field, Date>;
  return { OR: [beyondKey, { ...sameKey, id: direction === 'gt' ? { gt: position.id } : { lt: position.id } }] };
}

/** The page size a connection's `first`/`last` ask for, as Pothos will serve it (default 20, at most 100). */
export function pageSize(args: { first?: number | null; last?: number | null }): number {
  const requested = args.first ?? args.last ?? 20;
  return Math.min(Math.max(requested, 0), 100);
}
