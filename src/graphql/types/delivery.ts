import { queryFromInfo } from '@pothos/plugin-prisma';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { Delivery } from '../../generated/prisma/client.js';
import { builder } from '../builder.js';
import { decodeCursor, encodeCursor, keysetCondition, pageSize } from '../cursors.js';

const DeliveryStatusEnum = builder.enumType('DeliveryStatus', {
  values: ['PENDING', 'PROCESSING', 'SENT', 'FAILED'] as const,
});

const DeliveryChannelEnum = builder.enumType('DeliveryChannel', {
  values: ['WEBHOOK', 'EMAIL'] as const,
});

builder.prismaObject('DeliveryAttempt', {
  description: 'One try at delivering.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    attemptedAt: t.expose('attemptedAt', { type: 'DateTime' }),
    durationMs: t.exposeInt('durationMs'),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'The HTTP status the receiver answered, if any.' }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

const DeliveryRef = builder.prismaNode('Delivery', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, context) => ({ id, userId: context.viewer?.userId ?? '00000000-0000-0000-0000-000000000000' }),
  description: 'A fired reminder on its way to one of your external channels.',
  fields: (t) => ({
    channel: t.expose('channel', { type: DeliveryChannelEnum }),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    eventId: t.id({ resolve: (delivery) => delivery.eventId.toString(), description: 'The ReminderFiredEvent delivered.' }),
    endpoint: t.relation('endpoint', { nullable: true }),
    attemptCount: t.exposeInt('attempt'),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the next try is planned, while one is.',
      select: { status: true, nextAttemptAt: true },
      resolve: (delivery) => (delivery.status === 'PENDING' ? delivery.nextAttemptAt : null),
    }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attempts: t.relation('attempts', {
      description: 'Every try, oldest first (at most 50).',
      query: { orderBy: { id: 'asc' }, take: 50 },
      complexity: { field: 1, multiplier: 50 },
    }),
  }),
});

builder.queryField('deliveries', (t) =>
  t.withAuth({ signedIn: true }).connection(
    {
      type: DeliveryRef,
      description: 'Deliveries of your events to your external channels, newest first (at most 100 per page).',
      args: { status: t.arg({ type: [DeliveryStatusEnum], required: false }) },
      complexity: (args) => ({ field: 1, multiplier: pageSize(args) }),
      resolve: (_root, args, context, info) =>
        resolveCursorConnection<Promise<Delivery[]>>(
          { args, defaultSize: 20, maxSize: 100, toCursor: (delivery) => encodeCursor('Delivery', { key: delivery.createdAt, id: delivery.id }) },
          ({ after, before, limit, inverted }) =>
            context.db.delivery.findMany({
              ...queryFromInfo({ context, info, path: ['edges', 'node'] }),
              where: {
                AND: [
                  { userId: context.viewer.userId },
                  // Deduplicated: a long list of one value would otherwise become as many query parameters.
                  args.status ? { status: { in: [...new Set(args.status)] } } : {},
                  // Newest first: "after" a cursor means created earlier.
                  after ? keysetCondition('createdAt', decodeCursor('Delivery', after, 'after'), 'lt') : {},
                  before ? keysetCondition('createdAt', decodeCursor('Delivery', before, 'before'), 'gt') : {},
                ],
              },
              orderBy: inverted ? [{ createdAt: 'asc' }, { id: 'asc' }] : [{ createdAt: 'desc' }, { id: 'desc' }],
              take: limit,
            }),
        ),
    },
    { name: 'DeliveryConnection' },
    { name: 'DeliveryEdge' },
  ),
);
