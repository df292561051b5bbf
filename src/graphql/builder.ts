import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { getDatamodel } from '../generated/pothos-prisma-types.js';
import { isUuid } from '../domain/ownership.js';
import { DomainError } from '../domain/errors.js';
import { metrics } from '../metrics/registry.js';
import type { Context, SignedInContext } from './context.js';
import { decodeGlobalIdLeniently } from './global-ids.js';

const NODE_TYPENAMES = new Set(['Task', 'Reminder', 'WebhookEndpoint', 'Delivery']);

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { signedIn: boolean };
  AuthContexts: { signedIn: SignedInContext };
  PrismaTypes: PrismaTypes;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
}>({
  // Order matters: Errors wraps ScopeAuth, so field resolvers' domain errors become data while an
  // authorization failure stays a top-level UNAUTHENTICATED error (it is not in any `types` list).
  plugins: [ErrorsPlugin, ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  // Inputs and arguments are required unless a field says otherwise.
  defaultInputFieldRequiredness: true,
  scopeAuth: {
    authScopes: (context) => ({ signedIn: context.viewer !== null }),
    unauthorizedError: () =>
      new GraphQLError('a valid bearer token is required', {
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      }),
  },
  prisma: {
    // The client comes from the context, so tests and each server instance bring their own.
    client: (context) => context.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    decodeGlobalID: decodeGlobalIdLeniently,
    // `node` is for signed-in users only; an id of no known type, or not a uuid, is simply absent.
    nodeQueryOptions: {
      authScopes: { signedIn: true },
      resolve: (_root, { id }, _context, _info, resolveNode) =>
        NODE_TYPENAMES.has(id.typename) && isUuid(String(id.id)) ? resolveNode(id) : null,
    },
    // `nodes(ids: [...])` would be an unbounded fan-out; clients fetch one node at a time.
    nodesQueryOptions: false,
  },
  errors: {
    onResolvedError: (error) => metrics.domainErrors.inc({ code: error instanceof DomainError ? error.code : error.name }),
    defaultResultOptions: { name: ({ fieldName }) => `${capitalise(fieldName)}Success` },
    defaultUnionOptions: { name: ({ fieldName }) => `${capitalise(fieldName)}Result` },
  },
});

function capitalise(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
