/**
 * Pothos (plugin-prisma) plans `{ select: {} }` for a prismaField whose result is a union (the
 * errors plugin's `…Result`) when the selection never enters the model's object type: only
 * `{ __typename }`, or only `… on Error { code }`. Prisma refuses an empty `select` ("must not be
 * empty"), which surfaced as "Unexpected error." after a mutation had already been written, and
 * hid NOT_FOUND for a missing task. Every prismaField resolver passes its query through here.
 */
export function rowQuery<Query extends { select?: object | null }>(query: Query): Query {
  if (query.select === undefined || query.select === null || Object.keys(query.select).length > 0) return query;
  // The row's key: enough for Prisma to read the row (or find it missing), and for the union to resolve.
  return { ...query, select: { id: true } };
}
