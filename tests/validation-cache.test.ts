/**
 * Validation results are reused only where they cannot differ (issue 10): the cache is keyed by
 * document, operation name and variables, so a document whose cost depends on its variables is
 * judged by the variables it comes with, every time, however often it passed before.
 *
 * Against a real server on the test database, over HTTP: two aliases of `tasks(first: $n)` with every
 * field of a task and of its reminders pass with n = 1 (repeatedly, so from the cache), are refused
 * with QUERY_COMPLEXITY with n = 100 (right after, and again), and pass again with n = 1; a refused
 * document is never remembered as passed.
 */
import { describe, expect, it } from 'vitest';
import { newUser, useServer } from './helpers/server.js';

const server = useServer();

const COSTLY = /* GraphQL */ `
  query Costly($n: Int) {
    a: tasks(first: $n) { edges { node { id description reminders { id triggerAt kind secondsBeforeDeadline status attempts firedAt lastError createdAt } } } }
    b: tasks(first: $n) { edges { node { id description reminders { id triggerAt kind secondsBeforeDeadline status attempts firedAt lastError createdAt } } } }
  }
`;

async function post(token: string, variables: Record<string, unknown>) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: COSTLY, variables, operationName: 'Costly' }),
  });
  return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> } };
}

describe('the validation cache', () => {
  it('judges a document by the variables it comes with, whatever passed before', async () => {
    const user = await newUser('validation-cache');
    const passes = async () => {
      const answer = await post(user.token, { n: 1 });
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data).toEqual({ a: { edges: [] }, b: { edges: [] } });
    };
    const refused = async () => {
      const answer = await post(user.token, { n: 100 });
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('QUERY_COMPLEXITY');
    };
    await passes();
    await passes();
    await refused();
    await refused();
    await passes();
    await refused();
  });
});
