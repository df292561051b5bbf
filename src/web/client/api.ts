/**
 * GraphQL over HTTP for the dashboard: POST /graphql with the user's bearer token, typed by the
 * codegen'd documents in src/web/gql (GraphQL over HTTP, https://graphql.github.io/graphql-over-http/).
 */
import type { TypedDocumentString } from '../gql/graphql.js';

/** The server refused the token (HTTP 401, or an UNAUTHENTICATED error): the page signs out. */
export class TokenRefusedError extends Error {}

/** Anything else that went wrong with one request, in words a person can act on. */
export class RequestFailedError extends Error {}

interface GraphQLResponseBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export async function request<TResult, TVariables>(
  token: string,
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  } catch {
    throw new RequestFailedError('the server cannot be reached');
  }
  const body = (await response.json().catch(() => ({}))) as GraphQLResponseBody<TResult>;
  const errors = body.errors ?? [];
  if (response.status === 401 || errors.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) {
    throw new TokenRefusedError(errors[0]?.message ?? 'the token was refused');
  }
  if (errors.length > 0 || !body.data) {
    throw new RequestFailedError(errors.map((error) => error.message).join('; ') || `HTTP ${response.status}`);
  }
  return body.data;
}

/** Outside production the server signs a development token for `subject` (POST /dev/token). */
export async function mintDevelopmentToken(subject: string): Promise<string> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject }),
  });
  const body = (await response.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!response.ok || typeof body.token !== 'string') throw new RequestFailedError(body.error ?? `HTTP ${response.status}`);
  return body.token;
}
