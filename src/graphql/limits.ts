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
  /**
   * Items in one list inside the request's variables (the longest list the schema takes is a
   * task's 25 reminders; a status filter has at most 4 distinct values). Checked before the
   * variables are coerced, so a refused request costs one walk over its JSON.
   */
  maxVariableListLength: 100,
  /** Values (scalars, lists and objects, nested ones included) in all of a request's variables. */
  maxVariableValues: 5_000,
  /** `__schema` and `__type` fields in one document, aliases counted: one answer is the whole schema. */
  maxIntrospectionFields: 1,
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
 * The complexity rule, minus one behaviour: reading an argument that cannot be coerced (a literal
 * `status: [SENTT]`, or `status: [$s]` with `$s` null) throws out of validation, which would drop
 * the spec's own error (and abort a graphql-ws operation). The operation is refused instead: its
 * cost is unknown, and counting it 0 would let every other field of the document run unpriced.
 * The refusal is a PothosValidationError, so where a spec rule (ValuesOfCorrectTypeRule) reports
 * the same argument, only the spec's words are kept (see queryLimitPlugins).
 */
function costRule(rule: ValidationRule): ValidationRule {
  return (context) => {
    const { OperationDefinition: operation } = rule(context) as OperationVisitor;
    let unreadable = false;
    return {
      OperationDefinition: {
        enter: (node) => {
          unreadable = false;
          try {
            operation?.enter?.(node);
          } catch (error) {
            if (!(error instanceof GraphQLError)) throw error;
            unreadable = true;
            context.reportError(
              new PothosValidationError(`Cannot price this operation: ${error.message}`, {
                nodes: error.nodes,
                extensions: { code: 'VALIDATION', field: argumentName(error.message) },
              }),
            );
          }
        },
        leave: () => {
          if (!unreadable) operation?.leave?.();
        },
      },
    };
  };
}

/** The argument graphql-js names in a coercion error (`Argument "filter" of …`), if any. */
function argumentName(message: string): string | undefined {
  return /^Argument "([^"]+)"/.exec(message)?.[1];
}

/**
 * Why the request's variables are too large to coerce, or null. graphql-js coerces every item of
 * a list and reports each bad one (with no bound on the errors while the cost rule coerces), so
 * 100,000 bad items block the event loop for seconds; this walk is linear and stops at the bound.
 */
export function oversizedVariables(variables: unknown): string | null {
  let values = 0;
  const stack: Array<{ value: unknown; path: string }> = [{ value: variables, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    values += 1;
    if (values > QUERY_LIMITS.maxVariableValues) return `variables hold more than ${QUERY_LIMITS.maxVariableValues} values`;
    if (Array.isArray(value)) {
      if (value.length > QUERY_LIMITS.maxVariableListLength)
        return `variable ${path} is a list of ${value.length} items; at most ${QUERY_LIMITS.maxVariableListLength} are allowed`;
      value.forEach((item: unknown, index) => stack.push({ value: item, path: `${path}[${index}]` }));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) stack.push({ value: item, path: path === '' ? `$${key}` : `${path}.${key}` });
    }
  }
  return null;
}

/**
 * At most QUERY_LIMITS.maxIntrospectionFields `__schema`/`__type` fields in the document. The
 * cost rule prices an introspection field at 1 whatever it selects (it only knows the schema's own
 * fields), and each alias answers with the whole schema; graphql-js's MaxIntrospectionDepthRule
 * bounds one answer's depth, this bounds their number. `getIntrospectionQuery()` has one.
 */
const introspectionCountRule: ValidationRule = (context) => {
  let count = 0;
  return {
    Field: (node) => {
      if (node.name.value !== '__schema' && node.name.value !== '__type') return;
      count += 1;
      if (count === QUERY_LIMITS.maxIntrospectionFields + 1)
        context.reportError(
          new GraphQLError(`At most ${QUERY_LIMITS.maxIntrospectionFields} __schema or __type field is allowed in one document`, {
            nodes: [node],
            extensions: { code: 'QUERY_INTROSPECTION' },
          }),
        );
    },
  };
};

/** The Yoga plugins that enforce QUERY_LIMITS and `policy`, in the order they run. */
export function queryLimitPlugins(policy: GraphQLPolicy): Array<Plugin<RequestParams>> {
  const costPlugin: Plugin<RequestParams> = {
    onValidate: ({ addValidationRule, context, setResult }) => {
      const oversized = oversizedVariables(context.params?.variables ?? {});
      if (oversized !== null) {
        setResult([new GraphQLError(oversized, { extensions: { code: 'VALIDATION', field: 'variables' } })]);
        return;
      }
      for (const rule of armorRules) addValidationRule(rule);
      addValidationRule(introspectionCountRule);
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
    pothosRefusalsCoded,
    ...(policy.suggestions ? [] : [withoutSuggestions]),
  ];
}

/**
 * Pothos refuses some arguments itself while resolving (`tasks(first: -1)`: "Argument "first" must
 * be a non-negative integer") with a PothosValidationError that carries no code. Every refusal of
 * client input answers `extensions.code` VALIDATION and names the argument, as ours do.
 */
function coded(error: GraphQLError): GraphQLError {
  const original = error instanceof PothosValidationError ? error : error.originalError;
  if (!(original instanceof PothosValidationError) || error.extensions.code !== undefined) return error;
  const field = argumentName(original.message);
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: original,
    extensions: { ...error.extensions, code: 'VALIDATION', ...(field === undefined ? {} : { field }) },
  });
}

const pothosRefusalsCoded: Plugin<RequestParams> = {
  onExecute: () => ({
    onExecuteDone: (payload) =>
      handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) => {
        if (result.errors?.length) setResult({ ...result, errors: result.errors.map(coded) });
      }),
  }),
};

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
