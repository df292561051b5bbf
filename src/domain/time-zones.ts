/**
 * Time zones and local times of day.
 *
 * - **Zone**: an IANA time zone name (`Europe/Berlin`, `Asia/Kolkata`, `UTC`), as the tz database and
 *   Temporal know it. Fixed offsets (`+05:30`) are refused: they have no daylight saving rules and
 *   so cannot say what "09:00 every day" means after a change.
 * - **Local time of day**: `HH:MM`, 24-hour, stored as minutes after local midnight (0..1439).
 * - **The DST rule** (one for every local time Tickler turns into an instant: recurring deadlines,
 *   local reminders, quiet hours): Temporal's `disambiguation: 'compatible'`, which is RFC 5545
 *   §3.3.5's rule for a DATE-TIME with TZID. A local time inside a spring-forward gap is moved
 *   forward by the length of the gap (02:30 on the day Berlin jumps from 02:00 to 03:00 is 03:30
 *   CEST); a local time that occurs twice at a fall-back is the earlier of the two (02:30 CEST,
 *   not 02:30 CET).
 */
import { Temporal } from 'temporal-polyfill';
import type { Database } from '../db/client.js';
import { ValidationError } from './errors.js';
import type { Viewer } from './types.js';

/** The zone of users and tasks that never chose one. */
export const DEFAULT_TIME_ZONE = 'UTC';
const ZONE_NAME_MAX = 64;
/** Letters first: rules out offsets such as `+05:30` and `-0800`, which Temporal would accept. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]*$/;

/** Temporal's canonical spelling of `name` when it names an IANA zone; null otherwise. */
export function canonicalTimeZone(name: string): string | null {
  if (name.length === 0 || name.length > ZONE_NAME_MAX || !ZONE_NAME.test(name)) return null;
  try {
    return Temporal.Now.zonedDateTimeISO(name).timeZoneId;
  } catch {
    return null;
  }
}

/**
 * The canonical zone for client input `name`.
 * @throws ValidationError naming `field` when it is not an IANA time zone.
 */
export function parseTimeZone(name: string, field: string): string {
  const zone = canonicalTimeZone(name);
  if (zone === null) throw new ValidationError(`"${name.slice(0, ZONE_NAME_MAX)}" is not an IANA time zone (e.g. Europe/Berlin)`, field);
  return zone;
}

const LOCAL_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * Minutes after midnight for a local time of day `HH:MM` (24-hour).
 * @throws ValidationError naming `field` for anything else.
 */
export function parseLocalTime(value: string, field: string): number {
  const match = LOCAL_TIME.exec(value);
  if (!match) throw new ValidationError(`"${value.slice(0, 16)}" is not a local time of day HH:MM (00:00 to 23:59)`, field);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** `HH:MM` for minutes after midnight. */
export function formatLocalTime(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

/** A Temporal.PlainTime for minutes after midnight. */
export function plainTimeOf(minute: number): Temporal.PlainTime {
  return new Temporal.PlainTime(Math.floor(minute / 60), minute % 60);
}

/** The instant of a local wall-clock time in `zone`, by the DST rule above. */
export function instantOfLocal(local: Temporal.PlainDateTime, zone: string): Temporal.ZonedDateTime {
  return local.toZonedDateTime(zone, { disambiguation: 'compatible' });
}

/** `at` seen on a wall clock in `zone`. */
export function zonedOf(at: Date, zone: string): Temporal.ZonedDateTime {
  return Temporal.Instant.fromEpochMilliseconds(at.getTime()).toZonedDateTimeISO(zone);
}

/**
 * The zone a new user starts with: the OpenID Connect `zoneinfo` claim of their token when it names
 * an IANA zone, else UTC. A malformed claim must not lock anyone out, so it is ignored.
 */
export function zoneFromClaim(claim: unknown): string {
  return typeof claim === 'string' ? canonicalTimeZone(claim) ?? DEFAULT_TIME_ZONE : DEFAULT_TIME_ZONE;
}

/** The viewer's zone. */
export async function viewerTimeZone(db: Pick<Database, 'user'>, viewer: Viewer): Promise<string> {
  const user = await db.user.findUniqueOrThrow({ where: { id: viewer.userId }, select: { timeZone: true } });
  return user.timeZone;
}

/**
 * Sets the viewer's zone, used from now on for new tasks without their own zone and for quiet
 * hours. Existing tasks keep the zone they were created with.
 * @throws ValidationError (`timeZone`) for a name that is not an IANA zone.
 */
export async function setTimeZone(db: Database, viewer: Viewer, timeZone: string): Promise<void> {
  const zone = parseTimeZone(timeZone, 'timeZone');
  await db.user.update({ where: { id: viewer.userId }, data: { timeZone: zone } });
}
