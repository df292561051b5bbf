/**
 * Recurrence, zones and local reminders as pure domain functions, from fixed anchors: the expected
 * instants are written out by hand from the tz database's rules (cited per table), never computed
 * by the code under test, and the anchors are fixed so nothing here depends on today's date.
 *
 * Transitions used (tz database; EU rule "last Sunday of March/October at 01:00 UTC", US rule
 * "second Sunday of March / first Sunday of November at 02:00 local", Lord Howe "first Sunday of
 * April at 02:00 LHDT / first Sunday of October at 02:00 LHST", 30-minute shift):
 *   Europe/Berlin        2026-03-29 02:00 CET -> 03:00 CEST;  2026-10-25 03:00 CEST -> 02:00 CET
 *   America/New_York     2026-03-08 02:00 EST -> 03:00 EDT;   2026-11-01 02:00 EDT -> 01:00 EST
 *   Australia/Lord_Howe  2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 +10:30 -> 02:30 +11
 *   Asia/Kolkata         +05:30 all year
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/domain/errors.js';
import { localTriggerTime } from '../src/domain/local-reminders.js';
import { occurrences, parseRule, planSeries } from '../src/domain/recurrence.js';
import { parseTimeZone } from '../src/domain/time-zones.js';

const FAR = new Date('2120-01-01T00:00:00Z');

function deadlines(rule: string, timeZone: string, anchorLocal: string, limit: number, horizon = FAR): string[] {
  return occurrences({ rule, timeZone, anchorLocal }, { limit, horizon }).map((o) => o.deadline.toISOString());
}

describe('daily and weekly rules keep local wall-clock time across DST', () => {
  it('Europe/Berlin, every day at 09:00: 08:00Z in winter, 07:00Z in summer, on both changes', () => {
    expect(deadlines('FREQ=DAILY', 'Europe/Berlin', '2026-03-27T09:00:00', 4)).toEqual([
      '2026-03-27T08:00:00.000Z',
      '2026-03-28T08:00:00.000Z',
      '2026-03-29T07:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
    ]);
    expect(deadlines('FREQ=DAILY', 'Europe/Berlin', '2026-10-24T09:00:00', 3)).toEqual([
      '2026-10-24T07:00:00.000Z',
      '2026-10-25T08:00:00.000Z',
      '2026-10-26T08:00:00.000Z',
    ]);
  });

  it('Europe/Berlin, every day at 02:30: the missing 02:30 moves forward to 03:30 CEST, the doubled one is the first (CEST)', () => {
    expect(deadlines('FREQ=DAILY', 'Europe/Berlin', '2026-03-28T02:30:00', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 02:30 does not exist: 03:30 CEST, never skipped
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(deadlines('FREQ=DAILY', 'Europe/Berlin', '2026-10-24T02:30:00', 3)).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 happens twice: the earlier, CEST
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('America/New_York, every Sunday at 09:00: 14:00Z (EST) and 13:00Z (EDT)', () => {
    expect(deadlines('FREQ=WEEKLY;BYDAY=SU', 'America/New_York', '2026-03-01T09:00:00', 3)).toEqual([
      '2026-03-01T14:00:00.000Z',
      '2026-03-08T13:00:00.000Z',
      '2026-03-15T13:00:00.000Z',
    ]);
    expect(deadlines('FREQ=WEEKLY;BYDAY=SU', 'America/New_York', '2026-10-25T09:00:00', 3)).toEqual([
      '2026-10-25T13:00:00.000Z',
      '2026-11-01T14:00:00.000Z',
      '2026-11-08T14:00:00.000Z',
    ]);
  });

  it('Australia/Lord_Howe (30-minute shift), every day at 09:00 and every Sunday at 02:15', () => {
    expect(deadlines('FREQ=DAILY', 'Australia/Lord_Howe', '2026-04-04T09:00:00', 3)).toEqual([
      '2026-04-03T22:00:00.000Z', // +11:00
      '2026-04-04T22:30:00.000Z', // +10:30
      '2026-04-05T22:30:00.000Z',
    ]);
    expect(deadlines('FREQ=DAILY', 'Australia/Lord_Howe', '2026-10-03T09:00:00', 2)).toEqual([
      '2026-10-02T22:30:00.000Z',
      '2026-10-03T22:00:00.000Z',
    ]);
    // 02:00-02:30 does not exist on 2026-10-04: 02:15 moves forward by the 30-minute gap, to 02:45 +11.
    expect(deadlines('FREQ=WEEKLY', 'Australia/Lord_Howe', '2026-09-27T02:15:00', 3)).toEqual([
      '2026-09-26T15:45:00.000Z',
      '2026-10-03T15:45:00.000Z',
      '2026-10-10T15:15:00.000Z',
    ]);
  });

  it('Asia/Kolkata (+05:30, no DST): 09:00 is 03:30Z on every day, including the European change', () => {
    expect(deadlines('FREQ=DAILY', 'Asia/Kolkata', '2026-03-28T09:00:00', 3)).toEqual([
      '2026-03-28T03:30:00.000Z',
      '2026-03-29T03:30:00.000Z',
      '2026-03-30T03:30:00.000Z',
    ]);
  });
});

describe('calendar rules', () => {
  it('yearly on February 29 occurs in leap years only, and 2100 is not one', () => {
    expect(deadlines('FREQ=YEARLY', 'UTC', '2028-02-29T10:00:00', 3)).toEqual([
      '2028-02-29T10:00:00.000Z',
      '2032-02-29T10:00:00.000Z',
      '2036-02-29T10:00:00.000Z',
    ]);
    expect(deadlines('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29', 'UTC', '2097-03-01T10:00:00', 1)).toEqual(['2104-02-29T10:00:00.000Z']);
  });

  it('BYMONTHDAY=31 skips shorter months; BYMONTHDAY=-1 is every last day, February 29 included', () => {
    expect(deadlines('FREQ=MONTHLY;BYMONTHDAY=31', 'Europe/Berlin', '2027-01-31T09:00:00', 8)).toEqual([
      '2027-01-31T08:00:00.000Z',
      '2027-03-31T07:00:00.000Z',
      '2027-05-31T07:00:00.000Z',
      '2027-07-31T07:00:00.000Z',
      '2027-08-31T07:00:00.000Z',
      '2027-10-31T08:00:00.000Z',
      '2027-12-31T08:00:00.000Z',
      '2028-01-31T08:00:00.000Z',
    ]);
    expect(deadlines('FREQ=MONTHLY;BYMONTHDAY=-1', 'UTC', '2028-01-31T09:00:00', 6)).toEqual([
      '2028-01-31T09:00:00.000Z',
      '2028-02-29T09:00:00.000Z',
      '2028-03-31T09:00:00.000Z',
      '2028-04-30T09:00:00.000Z',
      '2028-05-31T09:00:00.000Z',
      '2028-06-30T09:00:00.000Z',
    ]);
  });

  it('BYDAY ordinals and BYSETPOS', () => {
    expect(deadlines('FREQ=MONTHLY;BYDAY=-1FR', 'UTC', '2027-01-01T09:00:00', 3)).toEqual([
      '2027-01-29T09:00:00.000Z',
      '2027-02-26T09:00:00.000Z',
      '2027-03-26T09:00:00.000Z',
    ]);
    expect(deadlines('FREQ=MONTHLY;BYDAY=1MO', 'UTC', '2027-01-01T09:00:00', 3)).toEqual([
      '2027-01-04T09:00:00.000Z',
      '2027-02-01T09:00:00.000Z',
      '2027-03-01T09:00:00.000Z',
    ]);
    expect(deadlines('FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1', 'UTC', '2027-01-01T09:00:00', 3)).toEqual([
      '2027-01-29T09:00:00.000Z',
      '2027-02-26T09:00:00.000Z',
      '2027-03-31T09:00:00.000Z',
    ]);
    expect(deadlines('FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE', 'UTC', '2027-01-04T09:00:00', 4)).toEqual([
      '2027-01-04T09:00:00.000Z',
      '2027-01-06T09:00:00.000Z',
      '2027-01-18T09:00:00.000Z',
      '2027-01-20T09:00:00.000Z',
    ]);
  });

  it('yearly BYDAY ordinals count within the year, up to the 53rd: never into the next year', () => {
    // Years with 53 Mondays start (or, in leap years, start or end) on a Monday: 2029 (Mon 1 Jan to
    // Mon 31 Dec) and 2035 (likewise); 2024 was a leap year starting on a Monday (Mon 30 Dec is the 53rd).
    expect(deadlines('FREQ=YEARLY;BYDAY=53MO', 'UTC', '2026-12-02T09:00:00', 3, new Date('2040-01-01T00:00:00Z'))).toEqual([
      '2029-12-31T09:00:00.000Z',
      '2035-12-31T09:00:00.000Z',
    ]);
    expect(deadlines('FREQ=YEARLY;BYDAY=-53MO', 'UTC', '2026-12-02T09:00:00', 3, new Date('2040-01-01T00:00:00Z'))).toEqual([
      '2029-01-01T09:00:00.000Z',
      '2035-01-01T09:00:00.000Z',
    ]);
    // The 52nd Friday of 2027 is 24 December; of 2028 (a leap year), 29 December.
    expect(deadlines('FREQ=YEARLY;BYDAY=52FR', 'UTC', '2027-01-01T09:00:00', 2)).toEqual(['2027-12-24T09:00:00.000Z', '2028-12-29T09:00:00.000Z']);
    // The fifth Sunday of February exists only when February 1 is a Sunday in a leap year: 2032.
    expect(deadlines('FREQ=YEARLY;BYMONTH=2;BYDAY=5SU', 'UTC', '2027-01-01T09:00:00', 2, new Date('2045-01-01T00:00:00Z'))).toEqual(['2032-02-29T09:00:00.000Z']);
  });

  it('COUNT and UNTIL end the series (UNTIL inclusive, compared as instants)', () => {
    expect(deadlines('FREQ=DAILY;COUNT=3', 'UTC', '2027-01-01T09:00:00', 10)).toHaveLength(3);
    expect(deadlines('FREQ=DAILY;UNTIL=20270103T090000Z', 'UTC', '2027-01-01T09:00:00', 10)).toEqual([
      '2027-01-01T09:00:00.000Z',
      '2027-01-02T09:00:00.000Z',
      '2027-01-03T09:00:00.000Z',
    ]);
    expect(deadlines('FREQ=DAILY;UNTIL=20270103T085959Z', 'UTC', '2027-01-01T09:00:00', 10)).toHaveLength(2);
    // 09:00 in Berlin is 08:00Z in January: UNTIL 08:00Z still includes the third day, 07:59:59Z does not.
    expect(deadlines('FREQ=DAILY;UNTIL=20270103T080000Z', 'Europe/Berlin', '2027-01-01T09:00:00', 10)).toHaveLength(3);
    expect(deadlines('FREQ=DAILY;UNTIL=20270103T075959Z', 'Europe/Berlin', '2027-01-01T09:00:00', 10)).toHaveLength(2);
    // A DATE UNTIL includes that whole local day.
    expect(deadlines('FREQ=DAILY;UNTIL=20270103', 'Europe/Berlin', '2027-01-01T23:30:00', 10)).toHaveLength(3);
    // COUNT counts from the first occurrence: numbers 1..3, and "after number 2" leaves only the third.
    expect(occurrences({ rule: 'FREQ=DAILY;COUNT=3', timeZone: 'UTC', anchorLocal: '2027-01-01T09:00:00' }, { afterNumber: 2, limit: 5, horizon: FAR }).map((o) => o.number)).toEqual([3]);
    // Skipping earlier occurrences keeps UNTIL (instant and date forms) exact.
    const after = (rule: string, afterNumber: number) =>
      occurrences({ rule, timeZone: 'Europe/Berlin', anchorLocal: '2027-01-01T09:00:00' }, { afterNumber, limit: 5, horizon: FAR }).map((o) => [o.number, o.deadline.toISOString()]);
    expect(after('FREQ=DAILY;UNTIL=20270103T080000Z', 1)).toEqual([[2, '2027-01-02T08:00:00.000Z'], [3, '2027-01-03T08:00:00.000Z']]);
    expect(after('FREQ=DAILY;UNTIL=20270103', 2)).toEqual([[3, '2027-01-03T08:00:00.000Z']]);
    expect(after('FREQ=DAILY;UNTIL=20270103', 3)).toEqual([]);
  });

  it('expansion stops at the horizon, however far the rule would go', () => {
    expect(deadlines('FREQ=DAILY', 'UTC', '2027-01-01T09:00:00', 100, new Date('2027-01-03T09:00:00Z'))).toHaveLength(3);
    expect(deadlines('FREQ=DAILY', 'UTC', '2027-01-01T09:00:00', 100, new Date('2027-01-03T08:59:59Z'))).toHaveLength(2);
    // Never matches: ends (empty) instead of searching forever, also over a century-long horizon.
    expect(deadlines('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', 'UTC', '2027-01-01T09:00:00', 1)).toEqual([]);
    expect(deadlines('FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31', 'UTC', '2027-01-01T09:00:00', 1, new Date('2037-01-01T00:00:00Z'))).toEqual([]);
  });
});

describe('local relative reminders', () => {
  const at = (iso: string) => new Date(iso);
  it('N days before at HH:MM, in the zone, on both sides of a change', () => {
    const spec = { kind: 'local' as const, daysBefore: 1, timeMinute: 18 * 60, minutesBefore: 0 };
    // Deadline Mon 2026-03-30 09:00 CEST: the day before at 18:00 is Sunday 18:00 CEST.
    expect(localTriggerTime(spec, at('2026-03-30T07:00:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-29T16:00:00.000Z');
    // Deadline Sun 2026-03-29 09:00 CEST: Saturday 18:00 is still CET.
    expect(localTriggerTime(spec, at('2026-03-29T07:00:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-28T17:00:00.000Z');
    // New York: deadline Sun 2026-11-01 09:00 EST, the evening before at 20:00 is EDT.
    expect(localTriggerTime({ ...spec, timeMinute: 20 * 60 }, at('2026-11-01T14:00:00Z'), 'America/New_York').toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });

  it('without a time, N days before keeps the wall-clock time, so the elapsed time is 47 h or 24 h 30 min', () => {
    const spec = (daysBefore: number) => ({ kind: 'local' as const, daysBefore, timeMinute: null, minutesBefore: 0 });
    expect(localTriggerTime(spec(2), at('2026-03-30T07:00:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-28T08:00:00.000Z');
    expect(localTriggerTime(spec(1), at('2026-04-04T22:30:00Z'), 'Australia/Lord_Howe').toISOString()).toBe('2026-04-03T22:00:00.000Z');
    expect(localTriggerTime(spec(1), at('2026-03-30T03:30:00Z'), 'Asia/Kolkata').toISOString()).toBe('2026-03-29T03:30:00.000Z');
  });

  it('a local time in a gap moves forward; minutesBefore is elapsed time', () => {
    // Deadline Mon 2026-03-09 09:00 EDT; the day before at 02:30 does not exist: 03:30 EDT.
    expect(localTriggerTime({ kind: 'local', daysBefore: 1, timeMinute: 150, minutesBefore: 0 }, at('2026-03-09T13:00:00Z'), 'America/New_York').toISOString()).toBe('2026-03-08T07:30:00.000Z');
    // Deadline 2026-03-29 03:15 CEST (01:15Z); 30 minutes before is 00:45Z (01:45 CET), not 02:45.
    expect(localTriggerTime({ kind: 'local', daysBefore: 0, timeMinute: null, minutesBefore: 30 }, at('2026-03-29T01:15:00Z'), 'Europe/Berlin').toISOString()).toBe('2026-03-29T00:45:00.000Z');
  });
});

describe('bad input is a ValidationError naming the field', () => {
  function refusal(run: () => unknown): { field: string | null; message: string } {
    try {
      run();
    } catch (error) {
      if (error instanceof ValidationError) return { field: error.field, message: error.message };
      throw error;
    }
    throw new Error('expected a ValidationError');
  }

  it.each([
    ['', /empty/],
    ['FREQ=DAILY;FREQ=WEEKLY', /twice/],
    ['FREQ=HOURLY', /not supported/],
    ['FREQ=DAILY;BYHOUR=9', /BYHOUR is not supported/],
    ['FREQ=DAILY;BYWEEKNO=3', /BYWEEKNO is not supported/],
    ['FREQ=DAILY;FOO=1', /FOO/],
    ['FREQ=DAILY;COUNT=1001', /COUNT must be between 1 and 1000/],
    ['FREQ=DAILY;COUNT=0', /COUNT/],
    ['FREQ=DAILY;INTERVAL=0', /INTERVAL/],
    ['FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z', /COUNT and UNTIL/],
    ['FREQ=DAILY;UNTIL=20300230T000000Z', /UNTIL/],
    ['FREQ=MONTHLY;BYMONTHDAY=32', /BYMONTHDAY value 32/],
    ['FREQ=MONTHLY;BYMONTHDAY=0', /BYMONTHDAY value 0/],
    ['FREQ=WEEKLY;BYMONTHDAY=1', /WEEKLY/],
    ['FREQ=WEEKLY;BYDAY=1MO', /ordinals/],
    ['FREQ=MONTHLY;BYDAY=6MO', /ordinal/],
    ['FREQ=MONTHLY;BYDAY=XX', /weekday/],
    ['FREQ=YEARLY;BYMONTH=13', /BYMONTH value 13/],
    ['FREQ=DAILY;BYSETPOS=1', /BYSETPOS needs/],
    ['FREQ=DAILY;WKST=XX', /WKST/],
    ['FREQ', /NAME=VALUE/],
  ])('rule %j', (rule, message) => {
    const refused = refusal(() => parseRule(rule));
    expect(refused.field).toBe('recurrence.rule');
    expect(refused.message).toMatch(message);
  });

  it('accepts the supported parts, with or without the RRULE: prefix, in any case', () => {
    expect(parseRule('rrule:freq=monthly;bymonthday=-1;count=1000').text).toBe('FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=1000');
    expect(parseRule('FREQ=YEARLY;BYMONTH=2,8;BYDAY=-1FR,1MO;BYSETPOS=1,-1;INTERVAL=1000;WKST=SU').interval).toBe(1000);
  });

  it('a rule with no occurrence (February 30), and UNTIL before the first deadline, are refused', () => {
    const deadline = new Date('2027-01-02T09:00:00Z');
    const horizon = new Date('2037-01-02T09:00:00Z');
    const feb30 = refusal(() => planSeries('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', 'UTC', deadline, horizon));
    expect(feb30).toEqual({ field: 'recurrence.rule', message: expect.stringMatching(/no occurrence/) });
    const early = refusal(() => planSeries('FREQ=DAILY;UNTIL=20270102T085959Z', 'UTC', deadline, horizon));
    expect(early).toEqual({ field: 'recurrence.rule', message: expect.stringMatching(/UNTIL is before the first deadline/) });
    // The boundary: UNTIL exactly at the deadline leaves one occurrence.
    expect(planSeries('FREQ=DAILY;UNTIL=20270102T090000Z', 'UTC', deadline, horizon).first.deadline.toISOString()).toBe('2027-01-02T09:00:00.000Z');
  });

  it('the first deadline is the first occurrence at or after the given one', () => {
    // Saturday 2027-01-02 09:00 UTC; every weekday: Monday 2027-01-04 is the first.
    const plan = planSeries('FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR', 'UTC', new Date('2027-01-02T09:00:00Z'), FAR);
    expect([plan.anchorLocal, plan.first.number, plan.first.deadline.toISOString()]).toEqual(['2027-01-02T09:00:00', 1, '2027-01-04T09:00:00.000Z']);
  });

  it.each(['Mars/Olympus', '+05:30', 'Europe/', '', 'Europe/Berlin; DROP TABLE', 'x'.repeat(65)])('zone %j', (zone) => {
    expect(refusal(() => parseTimeZone(zone, 'timeZone')).field).toBe('timeZone');
  });

  it('zone names are IANA names, canonical in case', () => {
    expect(parseTimeZone('europe/berlin', 'timeZone')).toBe('Europe/Berlin');
    expect(parseTimeZone('Asia/Kolkata', 'timeZone')).toBe('Asia/Kolkata');
    expect(parseTimeZone('UTC', 'timeZone')).toBe('UTC');
  });
});
