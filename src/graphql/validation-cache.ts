/**
 * Remembers that a document passed validation, per document, operation name and variables: a client
 * repeating a request skips the spec's rules and the limits of limits.ts, which are most of what
 * validation costs (see BENCHMARKS.md, API section).
 *
 * Why not Yoga's own validation cache: it is keyed by the document alone, and a document's cost
 * depends on its variables (`tasks(first: $n)`), so it stays off (app.ts). Here the variables and
 * the operation name are part of the key, and nothing else can change a verdict: the schema and the
 * limits policy are fixed per server, and no rule reads the request's context. Only passes are kept
 * (a refused document is validated again, and refused again, each time); a document Yoga's parse
 * cache drops is dropped here too (WeakMap), and each keeps at most MAX_VARIANTS variable sets.
 */
import type { DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';

const MAX_VARIANTS = 64;
/** Longer variable sets are not remembered (a key that size costs about what it saves). */
const MAX_KEY_LENGTH = 2048;

interface RequestParams {
  params?: { variables?: Record<string, unknown> | null; operationName?: string | null };
}

export function validationCachePlugin(): Plugin<RequestParams> {
  const passed = new WeakMap<DocumentNode, LRUCache<string, true>>();
  return {
    onValidate: ({ params, context, setResult }) => {
      const key = JSON.stringify([context.params?.operationName ?? null, context.params?.variables ?? null]);
      if (key.length > MAX_KEY_LENGTH) return undefined;
      const document = params.documentAST;
      if (passed.get(document)?.get(key)) {
        setResult([]);
        return undefined;
      }
      return ({ result }) => {
        if (result.length > 0) return;
        let variants = passed.get(document);
        if (!variants) {
          variants = new LRUCache<string, true>({ max: MAX_VARIANTS });
          passed.set(document, variants);
        }
        variants.set(key, true);
      };
    },
  };
}
