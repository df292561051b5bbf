import { builder } from '../builder.js';
import { rowQuery } from '../row-query.js';

builder.prismaObject('User', {
  name: 'Viewer',
  description: 'The signed-in user.',
  fields: (t) => ({
    id: t.exposeID('id'),
    subject: t.exposeString('subject', { description: 'The `sub` claim of your token.' }),
    email: t.exposeString('email', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: 'User',
    resolve: (query, _root, _args, context) =>
      context.db.user.findUniqueOrThrow({ ...rowQuery(query), where: { id: context.viewer.userId } }),
  }),
);
