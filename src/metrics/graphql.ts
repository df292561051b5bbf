/**
 * GraphQL request metrics through Yoga's Prometheus plugin (@graphql-yoga/plugin-prometheus, over
 * @envelop/prometheus), on Tickler's registry. Labelled by operation type and the first root field
 * (a schema field name, so the label set is bounded); the client's operation name is not used, since
 * a client could make it anything.
 */
import { Kind, type DocumentNode, type GraphQLError } from 'graphql';
import { createCounter, createHistogram, usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import { registry } from './registry.js';

function rootField(document: DocumentNode | undefined): string {
  for (const definition of document?.definitions ?? []) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind === Kind.FIELD) return selection.name.value;
    }
  }
  return 'unknown';
}

function errorCode(error: unknown): string {
  const code = (error as Partial<GraphQLError> | undefined)?.extensions?.code;
  return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : 'INTERNAL';
}

export function graphqlMetricsPlugin(): Plugin {
  return usePrometheus({
    registry,
    endpoint: false,
    metrics: {
      graphql_envelop_request: createCounter({
        registry,
        counter: { name: 'tickler_graphql_requests_total', help: 'GraphQL operations executed', labelNames: ['operation_type', 'operation'] },
        fillLabelsFn: (params) => ({ operation_type: params.operationType ?? 'unknown', operation: rootField(params.document) }),
      }),
      graphql_envelop_request_duration: createHistogram({
        registry,
        histogram: {
          name: 'tickler_graphql_request_duration_seconds',
          help: 'Duration of GraphQL operations, in seconds',
          labelNames: ['operation_type', 'operation'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        },
        fillLabelsFn: (params) => ({ operation_type: params.operationType ?? 'unknown', operation: rootField(params.document) }),
      }),
      graphql_envelop_error_result: createCounter({
        registry,
        counter: { name: 'tickler_graphql_errors_total', help: 'Top-level GraphQL errors, by phase and code', labelNames: ['phase', 'code'] },
        fillLabelsFn: (params) => ({ phase: params.errorPhase, code: errorCode(params.error) }),
      }),
      graphql_envelop_deprecated_field: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_schema_change: false,
      graphql_yoga_http_duration: false,
    },
  });
}
