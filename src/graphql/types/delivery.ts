import { GraphQLError } from 'graphql';
import { isUuid } from '../../domain/ownership.js';
import { builder } from '../builder.js';

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

builder.prismaNode('Delivery', {
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
    attempts: t.relation('attempts', { description: 'Every try, oldest first.', query: { orderBy: { id: 'asc' }, take: 50 } }),
  }),
});

builder.queryField('deliveries', (t) =>
  t.withAuth({ signedIn: true }).prismaConnection(
    {
      type: 'Delivery',
      cursor: 'id',
      defaultSize: 20,
      maxSize: 100,
      description: 'Deliveries of your events to your external channels, newest first.',
      args: { status: t.arg({ type: [DeliveryStatusEnum], required: false }) },
      resolve: (query, _root, args, context) => {
        if (query.cursor && !isUuid(String(query.cursor.id))) throw new GraphQLError('invalid pagination cursor');
        return context.db.delivery.findMany({
          ...query,
          where: { userId: context.viewer.userId, ...(args.status ? { status: { in: args.status } } : {}) },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        });
      },
    },
    { name: 'DeliveryConnection' },
    { name: 'DeliveryEdge' },
  ),
);
