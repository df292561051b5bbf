/**
 * Structured logs through pino: one JSON object per line on stdout, so any log shipper can parse them.
 * LOG_LEVEL (debug, info, warn, error, silent) picks how much is written.
 *
 * A line looks like `{"level":"info","time":"2026-…Z","msg":"reminders fired","requestId":"…",…}`:
 * - `log.info(message, fields)` is the only call shape; fields are merged into the line.
 * - Any `Error` among the fields (at any depth) is written as `{name, message, code?}`: no stacks, so a
 *   library's internals never reach a log shipper, and one failure stays one line.
 * - The fields of the current log context (`withLogContext`, carried by AsyncLocalStorage through every
 *   await) are added to each line: the HTTP/WebSocket request id reaches the domain's and the
 *   notifiers' lines, a dispatcher pass's id reaches the lines of what that pass does.
 * - Each distinct message is written at most {@link RATE_LIMIT_LINES} times per {@link RATE_LIMIT_WINDOW_MS}
 *   (or per the tighter limit of a `limitedLog`); the rest are counted and reported in one
 *   `log lines suppressed` line when the window ends. Messages are constant strings at their call
 *   sites (what varies goes into fields), so nothing a client sends can flood the logs by making many
 *   requests fail.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino } from 'pino';

export type LogFields = Record<string, unknown>;
type Level = 'debug' | 'info' | 'warn' | 'error';

/** Lines one message may produce per window before the rest are only counted. */
export const RATE_LIMIT_LINES = 50;
export const RATE_LIMIT_WINDOW_MS = 10_000;

/** How many lines of one message a window of `windowMs` milliseconds may hold. */
export interface LineLimit {
  lines: number;
  windowMs: number;
}
const DEFAULT_LIMIT: LineLimit = { lines: RATE_LIMIT_LINES, windowMs: RATE_LIMIT_WINDOW_MS };

const context = new AsyncLocalStorage<LogFields>();

/** Runs `fn` with `fields` added to every log line written inside it (and inside what it awaits). */
export function withLogContext<T>(fields: LogFields, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** The fields of the log context `fn` runs in (for code that hands work to another async context). */
export function currentLogContext(): LogFields {
  return context.getStore() ?? {};
}

function levelFromEnvironment(): string {
  const wanted = process.env.LOG_LEVEL ?? 'info';
  return ['debug', 'info', 'warn', 'error', 'silent'].includes(wanted) ? wanted : 'info';
}

/** `{name, message, code?}` for every Error in `value`, walking plain objects and arrays a few levels deep. */
function withoutStacks(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
  }
  if (depth >= 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => withoutStacks(item, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: LogFields = {};
  for (const [key, item] of Object.entries(value)) out[key] = withoutStacks(item, depth + 1);
  return out;
}

const logger = pino(
  {
    level: levelFromEnvironment(),
    base: undefined,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (fields) => withoutStacks(fields) as LogFields,
    },
    mixin: () => context.getStore() ?? {},
  },
  // Synchronous: a line logged just before process.exit is still written.
  pino.destination({ dest: 1, sync: true }),
);

interface Window {
  startedAt: number;
  written: number;
  suppressed: number;
  limit: LineLimit;
}
const windows = new Map<string, Window>();
let flushTimer: NodeJS.Timeout | undefined;

function reportSuppressed(now: number): void {
  for (const [key, window] of windows) {
    if (now - window.startedAt < window.limit.windowMs) continue;
    windows.delete(key);
    if (window.suppressed > 0) {
      const [level, message] = key.split('\u0000') as [Level, string];
      logger[level]({ suppressedMsg: message, suppressed: window.suppressed, windowMs: window.limit.windowMs }, 'log lines suppressed');
    }
  }
  if (windows.size === 0 && flushTimer) {
    clearInterval(flushTimer);
    flushTimer = undefined;
  }
}

function write(level: Level, message: string, fields: LogFields | undefined, limit: LineLimit): void {
  if (!logger.isLevelEnabled(level)) return;
  const now = Date.now();
  const key = `${level}\u0000${message}`;
  let window = windows.get(key);
  if (!window || now - window.startedAt >= window.limit.windowMs) {
    if (window) reportSuppressed(now);
    window = { startedAt: now, written: 0, suppressed: 0, limit };
    windows.set(key, window);
    if (!flushTimer) {
      flushTimer = setInterval(() => reportSuppressed(Date.now()), RATE_LIMIT_WINDOW_MS);
      flushTimer.unref();
    }
  }
  if (window.written >= window.limit.lines) {
    window.suppressed += 1;
    return;
  }
  window.written += 1;
  if (fields === undefined) logger[level](message);
  else logger[level](fields, message);
}

/**
 * The same log with a tighter limit per message, for lines that outside clients can cause at will
 * (the WebSocket server: 10 per minute). A message's window keeps the limit it was opened with.
 */
export function limitedLog(limit: LineLimit) {
  return {
    debug: (message: string, fields?: LogFields) => write('debug', message, fields, limit),
    info: (message: string, fields?: LogFields) => write('info', message, fields, limit),
    warn: (message: string, fields?: LogFields) => write('warn', message, fields, limit),
    error: (message: string, fields?: LogFields) => write('error', message, fields, limit),
  };
}

export const log = limitedLog(DEFAULT_LIMIT);
