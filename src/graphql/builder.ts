import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
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
import { unstorableTextReason } from '../domain/text.js';
import type { Context, SignedInContext } from './context.js';
import { decodeGlobalIdLeniently } from './global-ids.js';
import TextInputPlugin from './plugins/text-input.js';
import VanishedRowsPlugin from './plugins/vanished-rows.js';

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
  // TextInput runs inside both: signed-in callers' bad text becomes a ValidationError as data.
  // VanishedRows wraps Prisma's relation fields from outside, fallback loads included.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, TextInputPlugin, ComplexityPlugin, VanishedRowsPlugin, PrismaPlugin, RelayPlugin],
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
    // A connection field multiplies by its page size already; its edges add nothing more.
    edgesFieldOptions: { complexity: { field: 1, multiplier: 1 } },
    // Relay decodes `node(id:)` before any field wrapper sees it: refuse unstorable text here too.
    // The decoded parts are checked too (a NUL inside the base64), so the refusal names the
    // argument `id`, not the decoded object's `id.id` as the text-input plugin would.
    decodeGlobalID: (globalId) => {
      const decoded = decodeGlobalIdLeniently(globalId);
      const reason = unstorableTextReason(globalId) ?? unstorableTextReason(decoded.typename) ?? unstorableTextReason(decoded.id);
      if (reason !== null) throw new GraphQLError(`id ${reason}`, { extensions: { code: 'VALIDATION', field: 'id' } });
      return decoded;
    },
    // `node` is for signed-in users only; an id of no known type, or not a uuid, is simply absent.
    nodeQueryOptions: {
      authScopes: { signedIn: true },
      resolve: (_root, { id }, _context, _info, resolveNode) =>
        NODE_TYPENAMES.has(id.typename) && isUuid(String(id.id)) ? resolveNode(id) : null,
    },
    // `nodes(ids: [...])` would be an unbounded fan-out; clients fetch one node at a time.
    nodesQueryOptions: false,
  },
  // Each field's cost (see src/graphql/limits.ts). A list field multiplies its selection by its
  // bounded size, declared where the list is defined; an undeclared list counts as a full page (100).
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 100,
    // Measured during validation, before authentication and execution (limits.ts), not per resolver.
    disabled: true,
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
