import { GraphQLError, Kind } from 'graphql';
import { builder } from '../builder.js';

/** RFC 3339 with an explicit offset: a time without a zone is ambiguous for a deadline. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || value.length > 40 || !RFC3339.test(value)) {
    throw new GraphQLError('DateTime must be an RFC 3339 string with a time zone, e.g. 2030-01-31T17:00:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError(`DateTime "${value}" is not a real time`);
  return date;
}

builder.scalarType('DateTime', {
  description: 'A point in time, as an RFC 3339 string with a time zone (e.g. 2030-01-31T17:00:00.000Z).',
  serialize: (value) => value.toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});
