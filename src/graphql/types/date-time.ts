/**
 * `DateTime`: an RFC 3339 `date-time` (section 5.6) with its offset, read strictly. A time that does
 * not exist is refused, never moved: `2030-02-30T10:00:00Z` is not March 2nd, `T24:00:00` is not
 * the next day. Temporal (temporal-polyfill) checks the calendar (days per month, leap years); the
 * pattern below holds the RFC's grammar, which Temporal alone reads more loosely (it takes a space
 * for `T`, bracketed annotations, and a leap second `:60`, which it silently turns into `:59`).
 *
 * Range: instants from 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z (UTC). An offset can
 * carry a local year 0000 or 9999 outside it (`0001-01-01T00:00:00+01:00` is year 0000 in UTC);
 * those are refused too: PostgreSQL prints year 0 as "1 BC", which a Date cannot read back, and
 * cursors and filters compare against stored timestamps that never lie outside it.
 *
 * Leap seconds (`:60`) are refused: neither JavaScript nor PostgreSQL can represent one.
 * Fractions: up to 9 digits are accepted; PostgreSQL keeps milliseconds (`timestamptz(3)`), so digits
 * beyond the third are dropped (truncated toward the past: `.1239` is stored as `.123`).
 */
import { GraphQLError, Kind } from 'graphql';
import { Temporal } from 'temporal-polyfill';
import { builder } from '../builder.js';

/** full-date "T" partial-time time-offset; hours 00-23, minutes and seconds 00-59, offsets up to 23:59. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

const FORMAT_HINT = 'DateTime must be an RFC 3339 string with a time zone and seconds, e.g. 2030-01-31T17:00:00Z';

/** The first and last instants (Unix ms) the API takes and hands out. */
export const DATE_TIME_RANGE = {
  min: Date.parse('0001-01-01T00:00:00.000Z'),
  max: Date.parse('9999-12-31T23:59:59.999Z'),
} as const;

/** Whether `date` is a valid Date within DATE_TIME_RANGE. */
export function isSupportedInstant(date: Date): boolean {
  const time = date.getTime();
  return time >= DATE_TIME_RANGE.min && time <= DATE_TIME_RANGE.max;
}

/** The instant `value` names, to the millisecond; a GraphQLError for anything else. */
export function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || value.length > 40 || !RFC3339.test(value)) {
    throw new GraphQLError(FORMAT_HINT, { extensions: { code: 'VALIDATION' } });
  }
  let instant: Temporal.Instant;
  try {
    instant = Temporal.Instant.from(value);
  } catch (error) {
    // Temporal's own words name the field, e.g. "Invalid day: 30; must be between 1-28".
    const reason = error instanceof RangeError ? `: ${error.message}` : '';
    throw new GraphQLError(`DateTime "${value}" does not exist${reason}`, { extensions: { code: 'VALIDATION' } });
  }
  const date = new Date(instant.epochMilliseconds);
  if (!isSupportedInstant(date)) {
    throw new GraphQLError(`DateTime "${value}" is out of range: from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (UTC)`, {
      extensions: { code: 'VALIDATION' },
    });
  }
  return date;
}

builder.scalarType('DateTime', {
  description:
    'A point in time, as an RFC 3339 string with seconds and a time zone (e.g. 2030-01-31T17:00:00.000Z). ' +
    'Dates and times that do not exist (February 30th, 24:00, a leap second) are refused, ' +
    'as are instants before 0001-01-01T00:00:00Z or after 9999-12-31T23:59:59.999Z. ' +
    'Stored to the millisecond: further fraction digits are dropped.',
  serialize: (value) => value.toISOString(),
  parseValue: parseDateTime,
  // graphql-js reports a literal's GraphQLError as thrown: give it the literal's location.
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string', { nodes: ast, extensions: { code: 'VALIDATION' } });
    try {
      return parseDateTime(ast.value);
    } catch (error) {
      if (error instanceof GraphQLError) throw new GraphQLError(error.message, { nodes: ast, extensions: error.extensions });
      throw error;
    }
  },
});
