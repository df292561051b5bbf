/** The viewer's time zone and quiet hours, with the mutations that set them. */
import { quietHoursOf, setQuietHours } from '../../domain/quiet-hours.js';
import { setTimeZone } from '../../domain/time-zones.js';
import { ValidationError } from '../../domain/errors.js';
import { builder } from '../builder.js';
import { rowQuery } from '../row-query.js';

const QuietHoursRef = builder.objectRef<{ start: string; end: string }>('QuietHours').implement({
  description: 'Local window (in your zone) in which webhook and email deliveries wait until its end; may cross midnight.',
  fields: (t) => ({ start: t.exposeString('start'), end: t.exposeString('end') }),
});

builder.prismaObjectFields('User', (t) => ({
  timeZone: t.exposeString('timeZone', { description: 'IANA zone: new tasks and quiet hours use it.' }),
  quietHours: t.field({
    type: QuietHoursRef,
    nullable: true,
    select: { quietStartMinute: true, quietEndMinute: true },
    resolve: (user) => quietHoursOf(user),
  }),
}));

builder.mutationField('setTimeZone', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: 'User',
    description: 'Sets your IANA time zone. Existing tasks keep theirs.',
    errors: { types: [ValidationError], dataField: { name: 'viewer' } },
    args: { timeZone: t.arg.string() },
    resolve: async (query, _root, { timeZone }, context) => {
      await setTimeZone(context.db, context.viewer, timeZone);
      return context.db.user.findUniqueOrThrow({ ...rowQuery(query), where: { id: context.viewer.userId } });
    },
  }),
);

const QuietHoursInput = builder.inputType('QuietHoursInput', {
  fields: (t) => ({
    start: t.string({ description: 'HH:MM local.' }),
    end: t.string({ description: 'HH:MM local; earlier than start for a window across midnight.' }),
  }),
});

builder.mutationField('setQuietHours', (t) =>
  t.withAuth({ signedIn: true }).prismaField({
    type: 'User',
    description: 'Sets your quiet hours, or clears them with null.',
    errors: { types: [ValidationError], dataField: { name: 'viewer' } },
    args: { quietHours: t.arg({ type: QuietHoursInput, required: false }) },
    resolve: async (query, _root, { quietHours }, context) => {
      await setQuietHours(context.db, context.viewer, quietHours ?? null);
      return context.db.user.findUniqueOrThrow({ ...rowQuery(query), where: { id: context.viewer.userId } });
    },
  }),
);
