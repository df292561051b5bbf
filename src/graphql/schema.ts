/** The GraphQL schema: importing each type module registers it with the builder. */
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './types/date-time.js';
import './types/errors.js';
import './types/task.js';
import './types/reminder.js';
import './types/viewer.js';
import './mutations/create-task.js';
import './mutations/update-task.js';
import './mutations/finish-task.js';
import './mutations/delete-task.js';
import './mutations/reminders.js';
import './types/reminder-fired.js';
import './types/webhook-endpoint.js';
import './types/delivery.js';
import './mutations/webhook-endpoints.js';
import './types/recurrence.js';
import './types/viewer-settings.js';
import './mutations/snooze-reminder.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema: GraphQLSchema = builder.toSchema();

/** The schema as committed in schema.graphql: sorted, so diffs show real changes only. */
export function printSortedSchema(): string {
  return printSchema(lexicographicSortSchema(schema));
}
