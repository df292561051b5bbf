/**
 * Recurrence rules: which RFC 5545 RRULEs Tickler accepts, and the occurrences they produce.
 *
 * - **Rule**: the value of an RFC 5545 §3.3.10 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10`.
 *   Supported parts: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL, BYDAY (with ordinals such as
 *   `1MO`, `-1FR` under MONTHLY and YEARLY), BYMONTHDAY (1..31, -31..-1), BYMONTH, BYSETPOS, COUNT,
 *   UNTIL and WKST. The time of day always comes from the deadline, so BYHOUR, BYMINUTE and
 *   BYSECOND (and sub-daily FREQs) are refused, as are BYYEARDAY, BYWEEKNO, RSCALE and SKIP.
 * - **Anchor** (DTSTART): the first deadline's local wall-clock time in the series' zone.
 * - **Occurrence**: one instance of the recurrence set, numbered from 1; its deadline is the
 *   instance's local time in the zone, turned into an instant by the DST rule of time-zones.ts.
 *   Instances are never dropped for DST: RFC 5545 §3.3.10 would ignore an instance whose local time
 *   does not exist, but a reminder service that silently skips a day is exactly the bug people
 *   report, so Tickler applies §3.3.5's rule (Temporal "compatible") to every instance instead.
 *
 * Expansion is done by rrule-temporal over *wall-clock* time (dates and times as if in UTC, which
 * has no gaps), and only the resulting local times are placed in the zone. Expansion is bounded:
 * it stops at a horizon instant, and rrule-temporal's `maxIterations` is set from the number of
 * FREQ periods up to that horizon, so a rule that never matches (February 30) ends in
 * milliseconds instead of searching forever.
 */
import { RRuleTemporal } from 'rrule-temporal';
import { Temporal } from 'temporal-polyfill';
import { ValidationError } from './errors.js';
import { instantOfLocal, zonedOf } from './time-zones.js';

export const RECURRENCE_LIMITS = {
  ruleLength: 500,
  /** COUNT above this is refused: a series is a habit, not a log. */
  maxCount: 1000,
  maxInterval: 1000,
  /** Next occurrences the API lists at most. */
  maxListed: 20,
} as const;

type Freq = 'DAILY' | 'WEEKLY' | 'MONTHLY' | 'YEARLY';
const FREQS: readonly Freq[] = ['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'];
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const SUPPORTED = new Set(['FREQ', 'INTERVAL', 'COUNT', 'UNTIL', 'BYDAY', 'BYMONTHDAY', 'BYMONTH', 'BYSETPOS', 'WKST']);
const KNOWN_UNSUPPORTED: Record<string, string> = {
  BYHOUR: 'the time of day comes from the deadline',
  BYMINUTE: 'the time of day comes from the deadline',
  BYSECOND: 'the time of day comes from the deadline',
  BYYEARDAY: 'use BYMONTH with BYMONTHDAY',
  BYWEEKNO: 'use WEEKLY with INTERVAL',
  RSCALE: 'only the Gregorian calendar is supported',
  SKIP: 'only the Gregorian calendar is supported',
};
/** Days in one FREQ period, at least: for sizing the iteration bound. */
const PERIOD_DAYS: Record<Freq, number> = { DAILY: 1, WEEKLY: 7, MONTHLY: 28, YEARLY: 365 };

/** End of the rule by UNTIL: an instant, inclusive (`UNTIL=…Z`), or a local date, inclusive. */
type Until = { kind: 'instant'; at: Temporal.Instant } | { kind: 'date'; date: Temporal.PlainDate };

export interface ParsedRule {
  /** The rule as stored and shown: upper case, no `RRULE:` prefix. */
  text: string;
  freq: Freq;
  interval: number;
  count: number | null;
  until: Until | null;
  /** The rule without UNTIL, which Tickler applies itself on instants (see `occurrences`). */
  withoutUntil: string;
  /**
   * BYDAY items with an ordinal (`1MO`, `-1FR`, `53MO`) and the period they count in (RFC 5545
   * §3.3.10: the month with FREQ=MONTHLY or with BYMONTH, else the year); empty without ordinals.
   */
  byDayOrdinals: { items: Array<{ ordinal: number | null; weekday: number }>; scope: 'month' | 'year' } | null;
}

const FIELD = 'recurrence.rule';

function invalid(message: string): never {
  throw new ValidationError(message, FIELD);
}

function integerList(part: string, value: string, min: number, max: number, allowNegative: boolean): number[] {
  const items = value.split(',');
  if (items.length > 31) invalid(`${part} lists too many values`);
  return items.map((item) => {
    if (!/^[+-]?\d{1,3}$/.test(item)) invalid(`${part} value "${item}" is not a whole number`);
    const n = Number(item);
    const magnitude = Math.abs(n);
    if (n === 0 || magnitude < min || magnitude > max || (!allowNegative && n < 0)) {
      invalid(`${part} value ${item} is out of range (${allowNegative ? `${min}..${max} or -${max}..-${min}` : `${min}..${max}`})`);
    }
    return n;
  });
}

/**
 * Parses and checks an RRULE value (an optional `RRULE:` prefix is accepted).
 * @throws ValidationError (`recurrence.rule`) for malformed, duplicated, unsupported or
 *   contradictory parts, and for COUNT or INTERVAL over their bounds.
 */
export function parseRule(input: string): ParsedRule {
  if (input.length > RECURRENCE_LIMITS.ruleLength) invalid(`the rule is longer than ${RECURRENCE_LIMITS.ruleLength} characters`);
  const text = input.trim().toUpperCase().replace(/^RRULE:/, '');
  if (text.length === 0) invalid('the rule is empty');
  const parts = new Map<string, string>();
  for (const part of text.split(';')) {
    const match = /^([A-Z]+)=([A-Z0-9,+\-]+)$/.exec(part);
    if (!match) invalid(`"${part.slice(0, 40)}" is not a rule part NAME=VALUE`);
    const [, name, value] = match as unknown as [string, string, string];
    if (parts.has(name)) invalid(`${name} appears twice`);
    if (!SUPPORTED.has(name)) {
      const why = KNOWN_UNSUPPORTED[name];
      invalid(why ? `${name} is not supported: ${why}` : `${name} is not an RRULE part Tickler supports`);
    }
    parts.set(name, value);
  }
  const freq = parts.get('FREQ');
  if (freq === undefined) invalid('FREQ is required');
  if (!FREQS.includes(freq as Freq)) invalid(`FREQ=${freq} is not supported (DAILY, WEEKLY, MONTHLY or YEARLY)`);
  const frequency = freq as Freq;

  let interval = 1;
  const intervalText = parts.get('INTERVAL');
  if (intervalText !== undefined) {
    if (!/^\d{1,6}$/.test(intervalText)) invalid('INTERVAL must be a positive whole number');
    interval = Number(intervalText);
    if (interval < 1 || interval > RECURRENCE_LIMITS.maxInterval) invalid(`INTERVAL must be between 1 and ${RECURRENCE_LIMITS.maxInterval}`);
  }

  let count: number | null = null;
  const countText = parts.get('COUNT');
  if (countText !== undefined) {
    if (!/^\d{1,9}$/.test(countText)) invalid('COUNT must be a positive whole number');
    count = Number(countText);
    if (count < 1 || count > RECURRENCE_LIMITS.maxCount) invalid(`COUNT must be between 1 and ${RECURRENCE_LIMITS.maxCount}`);
  }

  let until: Until | null = null;
  const untilText = parts.get('UNTIL');
  if (untilText !== undefined) {
    if (count !== null) invalid('COUNT and UNTIL cannot both be given (RFC 5545)');
    until = parseUntil(untilText);
  }

  const byDay = parts.get('BYDAY');
  if (byDay !== undefined) {
    const items = byDay.split(',');
    if (items.length > 31) invalid('BYDAY lists too many values');
    for (const item of items) {
      const match = /^([+-]?\d{1,2})?([A-Z]{2})$/.exec(item);
      if (!match || !WEEKDAYS.includes(match[2] ?? '')) invalid(`BYDAY value "${item}" is not a weekday such as MO, 1MO or -1FR`);
      if (match[1] !== undefined) {
        const ordinal = Math.abs(Number(match[1]));
        if (frequency !== 'MONTHLY' && frequency !== 'YEARLY') invalid(`BYDAY ordinals such as ${item} need FREQ=MONTHLY or YEARLY`);
        const max = frequency === 'MONTHLY' && !parts.has('BYMONTH') ? 5 : 53;
        if (ordinal < 1 || ordinal > max) invalid(`BYDAY ordinal in ${item} is out of range (1..${max} or -${max}..-1)`);
      }
    }
  }
  const byMonthDay = parts.get('BYMONTHDAY');
  if (byMonthDay !== undefined) {
    if (frequency === 'WEEKLY') invalid('BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545)');
    integerList('BYMONTHDAY', byMonthDay, 1, 31, true);
  }
  const byMonth = parts.get('BYMONTH');
  if (byMonth !== undefined) integerList('BYMONTH', byMonth, 1, 12, false);
  const bySetPos = parts.get('BYSETPOS');
  if (bySetPos !== undefined) {
    if (byDay === undefined && byMonthDay === undefined && byMonth === undefined) invalid('BYSETPOS needs another BYxxx part (RFC 5545)');
    integerList('BYSETPOS', bySetPos, 1, 366, true);
  }
  const wkst = parts.get('WKST');
  if (wkst !== undefined && !WEEKDAYS.includes(wkst)) invalid(`WKST=${wkst} is not a weekday`);

  const withoutUntil = [...parts].filter(([name]) => name !== 'UNTIL').map(([name, value]) => `${name}=${value}`).join(';');
  const byDayItems = (byDay?.split(',') ?? []).map((item) => {
    const match = /^([+-]?\d{1,2})?([A-Z]{2})$/.exec(item);
    return { ordinal: match?.[1] === undefined ? null : Number(match[1]), weekday: WEEKDAYS.indexOf(match?.[2] ?? '') + 1 };
  });
  const byDayOrdinals = byDayItems.some((item) => item.ordinal !== null)
    ? { items: byDayItems, scope: frequency === 'MONTHLY' || parts.has('BYMONTH') ? ('month' as const) : ('year' as const) }
    : null;
  return { text: [...parts].map(([name, value]) => `${name}=${value}`).join(';'), freq: frequency, interval, count, until, withoutUntil, byDayOrdinals };
}

function parseUntil(value: string): Until {
  const dateTime = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const date = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  try {
    if (dateTime) {
      const [, y, mo, d, h, mi, s] = dateTime.map(Number) as [number, number, number, number, number, number, number];
      return { kind: 'instant', at: Temporal.PlainDateTime.from({ year: y, month: mo, day: d, hour: h, minute: mi, second: s }, { overflow: 'reject' }).toZonedDateTime('UTC').toInstant() };
    }
    if (date) {
      const [, y, mo, d] = date.map(Number) as [number, number, number, number];
      return { kind: 'date', date: Temporal.PlainDate.from({ year: y, month: mo, day: d }, { overflow: 'reject' }) };
    }
  } catch {
    // fall through: a well-formed but impossible date such as 20270230
  }
  invalid(`UNTIL=${value} is not a UTC date-time YYYYMMDDTHHMMSSZ or a date YYYYMMDD`);
}

/** A recurring task's rule in its zone, anchored at a local wall-clock DTSTART. */
export interface SeriesRule {
  rule: string;
  timeZone: string;
  /** DTSTART as local wall-clock time, `YYYY-MM-DDTHH:MM:SS`. */
  anchorLocal: string;
}

export interface Occurrence {
  /** 1-based number in the recurrence set (COUNT counts these). */
  number: number;
  deadline: Date;
  /** The wall-clock time in the series' zone that the rule produced. */
  local: string;
}

export interface ExpandOptions {
  /** Only occurrences numbered above this (default 0: from the first). */
  afterNumber?: number;
  /** Only occurrences whose deadline is at or after this instant. */
  notBefore?: Date;
  /** Stop after this many. */
  limit: number;
  /** Never look beyond this instant: the bound that keeps every expansion finite. */
  horizon: Date;
}

/** Whether `at` is still inside the rule's UNTIL (RFC 5545: UNTIL is inclusive). */
function withinUntil(until: Until | null, at: Temporal.ZonedDateTime): boolean {
  if (until === null) return true;
  if (until.kind === 'instant') return Temporal.Instant.compare(at.toInstant(), until.at) <= 0;
  return Temporal.PlainDate.compare(at.toPlainDate(), until.date) <= 0;
}

/**
 * The occurrences of `series` that pass the filters in `options`, earliest first.
 * Bounded by `options.horizon` in both time and work; pure (no clock, no database).
 */
export function occurrences(series: SeriesRule, options: ExpandOptions): Occurrence[] {
  const parsed = parseRule(series.rule);
  const anchor = Temporal.PlainDateTime.from(series.anchorLocal);
  const horizon = Temporal.Instant.fromEpochMilliseconds(options.horizon.getTime());
  const horizonLocal = horizon.toZonedDateTimeISO(series.timeZone).toPlainDateTime();
  if (Temporal.PlainDateTime.compare(horizonLocal, anchor) < 0 || options.limit <= 0) return [];
  // The last wall-clock time worth expanding to: a day past the horizon's or UNTIL's, whichever is
  // earlier (a day is more than any UTC offset). Without UNTIL's bound, a series that UNTIL ends before
  // `limit` occurrences was expanded all the way to the horizon (a century of days: seconds).
  const untilLocal =
    parsed.until === null
      ? null
      : parsed.until.kind === 'instant'
        ? parsed.until.at.toZonedDateTimeISO(series.timeZone).toPlainDateTime()
        : parsed.until.date.add({ days: 1 }).toPlainDateTime();
  const endLocal = untilLocal !== null && Temporal.PlainDateTime.compare(untilLocal, horizonLocal) < 0 ? untilLocal : horizonLocal;
  const lastWindowEnd = endLocal.add({ days: 1 });
  const periodDays = PERIOD_DAYS[parsed.freq] * parsed.interval;
  const afterNumber = options.afterNumber ?? 0;
  // Windows from the anchor that grow fourfold (64, 256, 1024... periods) until enough occurrences
  // are found or the horizon is reached: a near answer costs little, a far one at most twice.
  for (let periods = 64; ; periods *= 4) {
    const proposed = anchor.add({ days: periods * periodDays });
    const last = Temporal.PlainDateTime.compare(proposed, lastWindowEnd) >= 0;
    const windowEnd = last ? lastWindowEnd : proposed;
    const found = placeInZone(parsed, series.timeZone, expandWallClock(parsed, anchor, windowEnd), horizon, horizonLocal, options);
    if (last || found.length >= options.limit || (found.length > 0 && found.length + afterNumber >= (parsed.count ?? Infinity))) return found;
  }
}

/**
 * Whether `date` is the nth weekday its BYDAY ordinal names, counted in its month or year (RFC 5545
 * §3.3.10). rrule-temporal 2.2.8 counts ±53 past the end of the year (`FREQ=YEARLY;BYDAY=53MO` gave
 * the first Monday of the next year), so every instance it gives is checked here: a rule never yields a
 * date it does not name, whatever the library's arithmetic does.
 */
function satisfiesByDayOrdinals(parsed: ParsedRule, date: Temporal.PlainDate): boolean {
  if (parsed.byDayOrdinals === null) return true;
  const inMonth = parsed.byDayOrdinals.scope === 'month';
  const dayOfPeriod = inMonth ? date.day : date.dayOfYear;
  const daysInPeriod = inMonth ? date.daysInMonth : date.daysInYear;
  const fromStart = Math.floor((dayOfPeriod - 1) / 7) + 1;
  const fromEnd = -(Math.floor((daysInPeriod - dayOfPeriod) / 7) + 1);
  return parsed.byDayOrdinals.items.some(
    (item) => item.weekday === date.dayOfWeek && (item.ordinal === null || item.ordinal === fromStart || item.ordinal === fromEnd),
  );
}

/** A wall-clock time as "wall milliseconds": its epoch milliseconds were it in UTC. Cheap to compare. */
function wallMs(local: Temporal.PlainDateTime): number {
  return local.toZonedDateTime('UTC').epochMilliseconds;
}

/**
 * The rule's instances from the anchor up to `windowEnd`, in wall milliseconds, expanded by
 * rrule-temporal as if in UTC (no gaps, no doubled hours). `maxIterations` is sized to the periods
 * in the window, so a rule that never matches gives up there instead of searching on.
 */
function expandWallClock(parsed: ParsedRule, anchor: Temporal.PlainDateTime, windowEnd: Temporal.PlainDateTime): number[] {
  const spanDays = Math.max(0, anchor.until(windowEnd, { largestUnit: 'days' }).days);
  const dtstart = anchor.toZonedDateTime('UTC');
  const rule = new RRuleTemporal({
    rruleString: parsed.withoutUntil,
    dtstart,
    maxIterations: Math.ceil(spanDays / (PERIOD_DAYS[parsed.freq] * parsed.interval)) + 4,
  });
  try {
    // between() takes rrule-temporal's fast paths; a per-instance iterator callback would take its
    // general engine (about a millisecond per instance).
    return rule
      .between(dtstart, windowEnd.toZonedDateTime('UTC'), true)
      .filter((wallClock) => satisfiesByDayOrdinals(parsed, wallClock.toPlainDate()))
      .map((wallClock) => wallClock.epochMilliseconds);
  } catch (error) {
    // rrule-temporal gives up after maxIterations periods: no (more) occurrences in the window.
    if (error instanceof Error && /Maximum iterations/.test(error.message)) return [];
    throw error;
  }
}

const DAY_MS = 86_400_000;

/** Numbers the wall-clock instances and keeps those the options ask for, as deadlines in `zone`. */
function placeInZone(
  parsed: ParsedRule,
  zone: string,
  wallClockTimes: readonly number[],
  horizon: Temporal.Instant,
  horizonLocal: Temporal.PlainDateTime,
  options: ExpandOptions,
): Occurrence[] {
  const afterNumber = options.afterNumber ?? 0;
  const notBefore = options.notBefore?.getTime() ?? -Infinity;
  // Temporal operations cost tens of microseconds each with the polyfill, so instances before the
  // wanted ones are skipped on wall milliseconds alone; only those wanted, or within a day (more
  // than any UTC offset) of the horizon or UNTIL, are placed in the zone.
  const horizonSafe = wallMs(horizonLocal) - DAY_MS;
  const until = parsed.until;
  const untilSafe =
    until === null
      ? Infinity
      : until.kind === 'instant'
        ? wallMs(until.at.toZonedDateTimeISO(zone).toPlainDateTime()) - DAY_MS
        : wallMs(until.date.toPlainDateTime()) - DAY_MS;
  const found: Occurrence[] = [];
  for (const [index, wall] of wallClockTimes.entries()) {
    const number = index + 1;
    if (number <= afterNumber && wall <= horizonSafe && wall <= untilSafe) continue;
    const local = Temporal.Instant.fromEpochMilliseconds(wall).toZonedDateTimeISO('UTC').toPlainDateTime();
    const zoned = instantOfLocal(local, zone);
    if (Temporal.Instant.compare(zoned.toInstant(), horizon) > 0 || !withinUntil(parsed.until, zoned)) break;
    if (number > afterNumber && zoned.epochMilliseconds >= notBefore) {
      found.push({ number, deadline: new Date(zoned.epochMilliseconds), local: local.toString({ smallestUnit: 'second' }) });
      if (found.length >= options.limit) break;
    }
  }
  return found;
}

export interface SeriesPlan {
  rule: ParsedRule;
  anchorLocal: string;
  first: Occurrence;
}

/**
 * Plans a new series whose first deadline is the first occurrence at or after `deadline`'s local
 * time in `timeZone` (the deadline itself when it matches the rule; whole seconds).
 * @throws ValidationError (`recurrence.rule`) for a bad rule, an UNTIL before the deadline, or a
 *   rule with no occurrence before `horizon` (February 30, or COUNT/UNTIL already exhausted).
 */
export function planSeries(ruleText: string, timeZone: string, deadline: Date, horizon: Date): SeriesPlan {
  const rule = parseRule(ruleText);
  const anchor = zonedOf(deadline, timeZone).toPlainDateTime().round({ smallestUnit: 'second', roundingMode: 'trunc' });
  if (rule.until !== null && !withinUntil(rule.until, zonedOf(deadline, timeZone))) {
    invalid(`UNTIL is before the first deadline ${deadline.toISOString()}`);
  }
  const anchorLocal = anchor.toString({ smallestUnit: 'second' });
  const [first] = occurrences({ rule: rule.text, timeZone, anchorLocal }, { limit: 1, horizon });
  if (first === undefined) invalid('the rule has no occurrence from the deadline on within the 10-year horizon');
  return { rule, anchorLocal, first };
}
