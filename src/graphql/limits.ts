/**
 * What one GraphQL document may cost, checked while it is parsed and validated: before the
 * request's token is verified, before any resolver runs and before any SQL. Every measure here
 * visits each fragment once (results are memoised per fragment), so a refused document costs time
 * linear in its size, however its fragments spread into each other.
 *
 * - Tokens (graphql-armor max-tokens): counted by the lexer, so parsing stops at the limit.
 * - Depth, aliases, directives (graphql-armor): shape limits. Introspection (`__schema`) is left to
 *   graphql-js's own MaxIntrospectionDepthRule, so the standard introspection query passes.
 * - Cost (Pothos complexity, the `complexity` of each field): every field costs 1 (a task's
 *   description 10), and a list multiplies the cost of its selection by its bounded size: `first`
 *   (default 20, at most 100) for connections, 25 for a task's reminders, 50 for a delivery's
 *   attempts, 10 for webhook endpoints.
 * - Introspection and "Did you mean …" suggestions follow `GraphQLPolicy` (configurable; off in
 *   production unless enabled), so a production schema is not handed to every anonymous caller.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { PothosValidationError } from '@pothos/core';
import { createComplexityRule } from '@pothos/plugin-complexity';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type OperationDefinitionNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { handleStreamOrSingleExecutionResult, type Plugin } from 'graphql-yoga';

export const QUERY_LIMITS = {
  /**
   * Lexical tokens in one document: the standard introspection query has 184, 75 aliased page
   * queries 1,200. Also bounds graphql-js's OverlappingFieldsCanBeMergedRule, which is quadratic in
   * repeats of one field name (and gives up with "Validation aborted." past its own bound).
   */
  maxTokens: 2000,
  /** Nested field levels, fragments flattened (`{ tasks { edges { node { id } } } }` is 4). */
  maxDepth: 10,
  maxAliases: 100,
  maxDirectives: 50,
  /** Total cost; `tasks(first: 100)` with every field of a task and of its reminders costs 24,801. */
  maxComplexity: 25_000,
} as const;

/** Who may explore the schema. */
export interface GraphQLPolicy {
  /** Answer `__schema` / `__type` (GraphiQL's docs, codegen against the URL). */
  introspection: boolean;
  /** Keep graphql-js's "Did you mean …?" hints in error messages. */
  suggestions: boolean;
}

/** The GraphQL parameters Yoga puts in each operation's initial context (HTTP and graphql-ws alike). */
interface RequestParams {
  params?: { variables?: Record<string, unknown> | null; operationName?: string | null };
}

/** A graphql-armor rule's refusal, reported as a validation error with a stable code. */
function reportAs(code: string) {
  return (context: ValidationContext | null, error: GraphQLError): void => {
    context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code } }));
  };
}

const armorRules = [
  maxDepthRule({
    n: QUERY_LIMITS.maxDepth,
    flattenFragments: true,
    ignoreIntrospection: true,
    propagateOnRejection: false,
    onReject: [reportAs('QUERY_DEPTH')],
  }),
  maxAliasesRule({ n: QUERY_LIMITS.maxAliases, propagateOnRejection: false, onReject: [reportAs('QUERY_ALIASES')] }),
  maxDirectivesRule({ n: QUERY_LIMITS.maxDirectives, propagateOnRejection: false, onReject: [reportAs('QUERY_DIRECTIVES')] }),
];

/** The visitor shape createComplexityRule returns. */
interface OperationVisitor {
  OperationDefinition?: { enter?: (node: OperationDefinitionNode) => void; leave?: () => void };
}

/**
 * The complexity rule, minus one behaviour: reading a literal argument the spec's rules refuse
 * (`status: [SENTT]`) throws out of validation, which would drop the spec's own error (and abort a
 * graphql-ws operation). That argument is reported by ValuesOfCorrectTypeRule; the cost is skipped.
 */
function costRule(rule: ValidationRule): ValidationRule {
  return (context) => {
    const { OperationDefinition: operation } = rule(context) as OperationVisitor;
    return {
      OperationDefinition: {
        enter: (node) => {
          try {
            operation?.enter?.(node);
          } catch (error) {
            if (!(error instanceof GraphQLError)) throw error;
          }
        },
        leave: () => operation?.leave?.(),
      },
    };
  };
}

/** The Yoga plugins that enforce QUERY_LIMITS and `policy`, in the order they run. */
export function queryLimitPlugins(policy: GraphQLPolicy): Array<Plugin<RequestParams>> {
  const costPlugin: Plugin<RequestParams> = {
    onValidate: ({ addValidationRule, context }) => {
      for (const rule of armorRules) addValidationRule(rule);
      addValidationRule(
        costRule(
          createComplexityRule({
            context,
            variableValues: context.params?.variables ?? {},
            operationName: context.params?.operationName ?? undefined,
            maxComplexity: QUERY_LIMITS.maxComplexity,
          }),
        ),
      );
      if (!policy.introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
      // The cost measure stops at what the spec's rules refuse too (an unknown field, a fragment
      // cycle) and says so; keep the spec's words alone then.
      return ({ result, setResult }) => {
        const ours = result.filter((error) => error instanceof PothosValidationError);
        if (ours.length > 0 && ours.length < result.length) setResult(result.filter((error) => !(error instanceof PothosValidationError)));
      };
    },
  };
  return [
    // Throws from inside the lexer once the count passes the limit: the rest is never parsed.
    maxTokensPlugin({ n: QUERY_LIMITS.maxTokens }) as Plugin<RequestParams>,
    costPlugin,
    ...(policy.suggestions ? [] : [withoutSuggestions]),
  ];
}

/**
 * graphql-js's hints (`Did you mean "title"?`, `Did you mean the enum value "ACTIVE"?`) name parts
 * of the schema; with introspection off they would give it away field by field. graphql-armor's
 * block-field-suggestions only knows the first form, so the hint is cut here from every error,
 * whether validation (literals, and variables measured by the cost rule) or execution reports it.
 */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

function withoutHint<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || !error.message.includes('Did you mean')) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, '').trim(), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

const withoutSuggestions: Plugin<RequestParams> = {
  onValidate: () => ({ result, setResult }) => {
    if (result.length > 0) setResult(result.map(withoutHint));
  },
  onExecute: () => ({
    onExecuteDone: (payload) =>
      handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) => {
        if (result.errors?.length) setResult({ ...result, errors: result.errors.map(withoutHint) });
      }),
  }),
};
