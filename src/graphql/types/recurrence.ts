/** Time zones and recurrence on Task, local reminders and snoozes on Reminder (issue 11). */
import { formatLocalTime } from '../../domain/time-zones.js';
import { upcomingOccurrences } from '../../domain/series.js';
import { builder } from '../builder.js';

export const SeriesStatusEnum = builder.enumType('SeriesStatus', {
  description: 'ACTIVE series create occurrences; ENDED ones ran out (COUNT, UNTIL); CANCELED ones were cancelled.',
  values: ['ACTIVE', 'ENDED', 'CANCELED'] as const,
});

interface RecurrenceShape {
  rule: string;
  timeZone: string;
  anchorLocal: string;
  status: 'ACTIVE' | 'ENDED' | 'CANCELED';
  lastOccurrence: number;
  occurrence: number;
  series: Parameters<typeof upcomingOccurrences>[0];
}

const RecurrenceRef = builder.objectRef<RecurrenceShape>('Recurrence').implement({
  description: 'The series a recurring task belongs to: an RFC 5545 RRULE at a local wall-clock time in a zone.',
  fields: (t) => ({
    rule: t.exposeString('rule', { description: 'The RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10.' }),
    timeZone: t.exposeString('timeZone', { description: 'IANA zone the rule is reckoned in.' }),
    start: t.exposeString('anchorLocal', { description: 'DTSTART: the first deadline as local wall-clock time (YYYY-MM-DDTHH:MM:SS).' }),
    status: t.field({ type: SeriesStatusEnum, resolve: (recurrence) => recurrence.status }),
    occurrence: t.exposeInt('occurrence', { description: "This task's number in the recurrence set (1 = the first)." }),
    latestOccurrence: t.exposeInt('lastOccurrence', { description: 'The number of the newest occurrence created so far.' }),
    nextOccurrences: t.field({
      type: ['DateTime'],
      description: 'Deadlines of the occurrences after this one, per the rule (at most 20; empty once the series is not active).',
      args: { first: t.arg.int({ required: false, defaultValue: 5 }) },
      // Expanding the rule is CPU work (a few milliseconds), priced like a page of that many items.
      complexity: (args) => ({ field: 10, multiplier: Math.min(Math.max(args.first ?? 5, 0), 20) }),
      resolve: (recurrence, { first }) =>
        upcomingOccurrences(recurrence.series, recurrence.occurrence, Math.max(0, first ?? 5)).map((occurrence) => occurrence.deadline),
    }),
  }),
});

builder.prismaObjectFields('Task', (t) => ({
  timeZone: t.exposeString('timeZone', { description: 'IANA zone of its local reminders and recurrence.' }),
  recurrence: t.field({
    type: RecurrenceRef,
    nullable: true,
    description: 'The series, for a recurring task.',
    select: { occurrence: true, series: true },
    resolve: (task) =>
      task.series && task.occurrence !== null
        ? { ...task.series, series: task.series, occurrence: task.occurrence }
        : null,
  }),
}));

const LocalReminderRef = builder.objectRef<{ daysBefore: number; at: string | null; minutesBefore: number }>('LocalReminder').implement({
  description: 'N days before the deadline at a local time, minus some minutes, in the task zone.',
  fields: (t) => ({
    daysBefore: t.exposeInt('daysBefore'),
    at: t.exposeString('at', { nullable: true, description: 'HH:MM local; null: the deadline’s local time.' }),
    minutesBefore: t.exposeInt('minutesBefore'),
  }),
});

builder.prismaObjectFields('Reminder', (t) => ({
  local: t.field({
    type: LocalReminderRef,
    nullable: true,
    select: { localDaysBefore: true, localTimeMinute: true, localMinutesBefore: true },
    resolve: (reminder) =>
      reminder.localDaysBefore === null
        ? null
        : {
            daysBefore: reminder.localDaysBefore,
            at: reminder.localTimeMinute === null ? null : formatLocalTime(reminder.localTimeMinute),
            minutesBefore: reminder.localMinutesBefore ?? 0,
          },
  }),
  snoozedFrom: t.relation('snoozedFrom', { nullable: true, description: 'The fired reminder this one snoozes.' }),
}));

export const LocalReminderInput = builder.inputType('LocalReminderInput', {
  description: '"daysBefore days before the deadline, at `at` local time (default: the deadline’s), minus minutesBefore minutes".',
  fields: (t) => ({
    daysBefore: t.int(),
    at: t.string({ required: false, description: 'HH:MM, 24-hour, local to the task zone.' }),
    minutesBefore: t.int({ required: false }),
  }),
});

export const RecurrenceInput = builder.inputType('RecurrenceInput', {
  fields: (t) => ({
    rule: t.string({
      description:
        'RFC 5545 RRULE value: FREQ=DAILY|WEEKLY|MONTHLY|YEARLY with INTERVAL, BYDAY (1MO, -1FR), BYMONTHDAY (-1), BYMONTH, BYSETPOS, COUNT (at most 1000), UNTIL, WKST.',
    }),
  }),
});
