import { createWebhookEndpoint, deleteWebhookEndpoint } from '../../domain/webhooks.js';
import { BusyError, NotFoundError, ValidationError } from '../../domain/errors.js';
import type { WebhookEndpoint } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { databaseIdOf, globalIdOf } from '../global-ids.js';
import { WebhookEndpointRef } from '../types/webhook-endpoint.js';

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ description: 'http(s) URL on a public address.' }),
    description: t.string({ required: false }),
  }),
});

const CreatedWebhookEndpoint = builder.objectRef<{ endpoint: WebhookEndpoint; secret: string }>('CreatedWebhookEndpoint').implement({
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (created) => created.endpoint }),
    secret: t.exposeString('secret', {
      description: 'The signing secret (whsec_...). Shown only now: store it to verify webhook-signature headers.',
    }),
  }),
});

builder.mutationField('createWebhookEndpoint', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: CreatedWebhookEndpoint,
    errors: { types: [ValidationError, BusyError], directResult: true },
    args: { input: t.arg({ type: CreateWebhookEndpointInput }) },
    resolve: (_root, { input }, context) => createWebhookEndpoint(context.db, context.viewer, input, context.webhookPolicy, context.policy),
  }),
);

const DeleteWebhookEndpointPayload = builder
  .objectRef<{ deletedWebhookEndpointId: string }>('DeleteWebhookEndpointPayload')
  .implement({ fields: (t) => ({ deletedWebhookEndpointId: t.exposeID('deletedWebhookEndpointId') }) });

builder.mutationField('deleteWebhookEndpoint', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: DeleteWebhookEndpointPayload,
    errors: { types: [NotFoundError, BusyError], directResult: true },
    args: { id: t.arg.id() },
    resolve: async (_root, { id }, context) => {
      const endpointId = await deleteWebhookEndpoint(context.db, context.viewer, databaseIdOf(String(id), 'WebhookEndpoint'), context.policy);
      return { deletedWebhookEndpointId: globalIdOf('WebhookEndpoint', endpointId) };
    },
  }),
);
