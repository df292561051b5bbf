/**
 * Bounds on what one GraphQL document may ask for. Connections are capped per page already; this
 * stops a single request from nesting deeply or repeating expensive fields under many aliases.
 */
import { GraphQLError, Kind, type ASTVisitor, type ValidationContext, type SelectionSetNode } from 'graphql';

export const QUERY_LIMITS = { maxDepth: 10, maxFields: 300 } as const;

export function costLimitRule(context: ValidationContext): ASTVisitor {
  const fragments = new Map(
    context
      .getDocument()
      .definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)
      .map((fragment) => [fragment.name.value, fragment.selectionSet]),
  );
  let fields = 0;

  /** Depth of a selection set with fragments expanded; counts fields on the way. */
  function measure(selectionSet: SelectionSetNode, depth: number, seen: Set<string>): number {
    let deepest = depth;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fields += 1;
        if (selection.selectionSet) deepest = Math.max(deepest, measure(selection.selectionSet, depth + 1, seen));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, measure(selection.selectionSet, depth, seen));
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A fragment spread inside itself is rejected by the standard rules; do not loop on it here.
        if (fragment && !seen.has(name)) deepest = Math.max(deepest, measure(fragment, depth, new Set([...seen, name])));
      }
    }
    return deepest;
  }

  return {
    OperationDefinition(operation) {
      fields = 0;
      const depth = measure(operation.selectionSet, 1, new Set());
      if (depth > QUERY_LIMITS.maxDepth) {
        context.reportError(new GraphQLError(`query is nested ${depth} levels deep; the limit is ${QUERY_LIMITS.maxDepth}`));
      }
      if (fields > QUERY_LIMITS.maxFields) {
        context.reportError(new GraphQLError(`query selects ${fields} fields; the limit is ${QUERY_LIMITS.maxFields}`));
      }
    },
  };
}
