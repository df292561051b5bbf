/**
 * Structured logs: one JSON object per line on stdout, so any log shipper can parse them.
 * LOG_LEVEL (debug, info, warn, error, silent) picks how much is written.
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, 'silent'>;

function threshold(): number {
  const wanted = (process.env.LOG_LEVEL ?? 'info') as keyof typeof LEVELS;
  return LEVELS[wanted] ?? LEVELS.info;
}

export type LogFields = Record<string, unknown>;

function write(level: Level, message: string, fields: LogFields = {}): void {
  if (LEVELS[level] < threshold()) return;
  const entry = { time: new Date().toISOString(), level, msg: message, ...fields };
  process.stdout.write(`${JSON.stringify(entry, errorReplacer)}\n`);
}

/** Errors serialise to `{name, message}`; stacks stay out of logs shipped off the machine. */
function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

export const log = {
  debug: (message: string, fields?: LogFields) => write('debug', message, fields),
  info: (message: string, fields?: LogFields) => write('info', message, fields),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
};
