/**
 * Quiet hours. The database function that the fire path uses to date external deliveries,
 * `tickler_quiet_hours_end(due, zone, start_minute, end_minute)`, is checked on fixed instants
 * against hand-written tables (offsets from the tz database: Berlin CET +01:00 / CEST +02:00,
 * changes 2026-03-29 and 2026-10-25; Lord Howe +11:00 / +10:30, change 2026-04-05 02:00 -> 01:30;
 * Kolkata +05:30), so nothing depends on today's date. Setting and clearing go through the API.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { signToken } from '../src/auth/tokens.js';
import { withPgClient } from './helpers/database.js';
import { SetQuietHours, ViewerSettings } from './helpers/recurrence-operations.js';
import { run, TEST_JWT_SECRET, useServer } from './helpers/server.js';

const server = useServer();
const hm = (time: string) => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));

async function quietEnd(due: string, zone: string | null, start: string | null, end: string | null): Promise<string> {
  return withPgClient(async (client) => {
    const { rows } = await client.query<{ end: Date }>('SELECT tickler_quiet_hours_end($1::timestamptz, $2, $3, $4) AS "end"', [
      due,
      zone,
      start === null ? null : hm(start),
      end === null ? null : hm(end),
    ]);
    return rows[0]?.end.toISOString() ?? 'none';
  });
}

describe('when a delivery due at a given instant may go out', () => {
  it.each([
    // [due (UTC), zone, window, expected (UTC), why]
    ['2027-01-15T22:30:00Z', 'Europe/Berlin', '22:00-07:00', '2027-01-16T06:00:00Z', '23:30 CET, inside: waits until 07:00 CET next morning'],
    ['2027-01-16T05:59:00Z', 'Europe/Berlin', '22:00-07:00', '2027-01-16T06:00:00Z', '06:59, inside (after midnight): 07:00 the same morning'],
    ['2027-01-16T06:00:00Z', 'Europe/Berlin', '22:00-07:00', '2027-01-16T06:00:00Z', '07:00 exactly: the window has ended'],
    ['2027-01-16T20:59:00Z', 'Europe/Berlin', '22:00-07:00', '2027-01-16T20:59:00Z', '21:59: before the window'],
    ['2027-01-16T21:00:00Z', 'Europe/Berlin', '22:00-07:00', '2027-01-17T06:00:00Z', '22:00 exactly: inside'],
    // Across DST changes: the night is an hour longer or shorter, the end is still 07:00 local.
    ['2026-10-24T21:00:00Z', 'Europe/Berlin', '22:00-07:00', '2026-10-25T06:00:00Z', '23:00 CEST; the night ends 07:00 CET'],
    ['2026-03-28T22:00:00Z', 'Europe/Berlin', '22:00-07:00', '2026-03-29T05:00:00Z', '23:00 CET; the night ends 07:00 CEST'],
    // An end time that does not exist moves forward by the gap; one that occurs twice is the earlier.
    ['2026-03-29T00:15:00Z', 'Europe/Berlin', '01:00-02:30', '2026-03-29T01:30:00Z', '02:30 does not exist that night: 03:30 CEST'],
    ['2026-10-24T23:15:00Z', 'Europe/Berlin', '01:00-02:30', '2026-10-25T00:30:00Z', '02:30 occurs twice: the first, CEST'],
    ['2026-04-04T13:30:00Z', 'Australia/Lord_Howe', '00:00-01:45', '2026-04-04T14:45:00Z', '01:45 occurs twice (30-minute shift): the first, +11:00'],
    // No DST; a window within one day.
    ['2027-01-15T07:45:00Z', 'Asia/Kolkata', '13:00-14:00', '2027-01-15T08:30:00Z', '13:15 IST: until 14:00 IST'],
    ['2027-01-15T08:30:00Z', 'Asia/Kolkata', '13:00-14:00', '2027-01-15T08:30:00Z', '14:00 IST: after'],
    ['2027-01-15T07:29:00Z', 'Asia/Kolkata', '13:00-14:00', '2027-01-15T07:29:00Z', '12:59 IST: before'],
  ])('%s in %s, quiet %s -> %s (%s)', async (due, zone, window, expected) => {
    const [start, end] = window.split('-') as [string, string];
    expect(await quietEnd(due, zone, start, end)).toBe(new Date(expected).toISOString());
  });

  it('no window, or a zone the database does not know, never holds a delivery back', async () => {
    expect(await quietEnd('2027-01-15T22:30:00Z', 'Europe/Berlin', null, null)).toBe('2027-01-15T22:30:00.000Z');
    expect(await quietEnd('2027-01-15T22:30:00Z', 'Mars/Olympus', '22:00', '07:00')).toBe('2027-01-15T22:30:00.000Z');
  });
});

describe('setQuietHours', () => {
  it('sets, shows and clears a window; refuses malformed or empty ones naming the field, changing nothing', async () => {
    const user = { subject: `quiet-${randomUUID()}`, token: '' };
    user.token = await signToken(TEST_JWT_SECRET, user.subject, { zoneinfo: 'Europe/Berlin' });
    const set = await run(server, user, SetQuietHours, { quietHours: { start: '22:00', end: '07:00' } });
    expect(set.setQuietHours).toEqual({ __typename: 'SetQuietHoursSuccess', viewer: { quietHours: { start: '22:00', end: '07:00' } } });
    for (const [quietHours, field] of [
      [{ start: '24:00', end: '07:00' }, 'quietHours.start'],
      [{ start: '22:00', end: '7:00' }, 'quietHours.end'],
      [{ start: '22:00', end: '22:00' }, 'quietHours.end'],
    ] as const) {
      const refused = await run(server, user, SetQuietHours, { quietHours });
      expect(refused.setQuietHours).toEqual({ __typename: 'ValidationError', code: 'VALIDATION', field });
    }
    expect((await run(server, user, ViewerSettings)).viewer.quietHours).toEqual({ start: '22:00', end: '07:00' });
    const cleared = await run(server, user, SetQuietHours, { quietHours: null });
    expect(cleared.setQuietHours).toEqual({ __typename: 'SetQuietHoursSuccess', viewer: { quietHours: null } });
  });
});
