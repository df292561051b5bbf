import { builder } from '../builder.js';
import { rowQuery } from '../row-query.js';

export const WebhookEndpointRef = builder.prismaNode('WebhookEndpoint', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, context) => ({ id, userId: context.viewer?.userId ?? '00000000-0000-0000-0000-000000000000' }),
  description: 'A URL that receives your fired reminders as signed webhooks (Standard Webhooks).',
  fields: (t) => ({
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('webhookEndpoints', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: ['WebhookEndpoint'],
    description: 'Your webhook endpoints (at most 10).',
    complexity: { field: 1, multiplier: 10 },
    resolve: (query, _root, _args, context) =>
      context.db.webhookEndpoint.findMany({ ...rowQuery(query), where: { userId: context.viewer.userId }, orderBy: { createdAt: 'asc' } }),
  }),
);
