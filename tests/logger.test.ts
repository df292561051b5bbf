/**
 * The logger (pino) as a process writes it: one JSON object per line on stdout, errors without
 * stacks, the log context's request id on every line inside it (across awaits), and a message
 * repeated past its budget counted rather than written. Runs dist/logger.js in a child process,
 * since it writes to file descriptor 1.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/spawned-server.js';

async function logLines(script: string, env: Record<string, string> = {}): Promise<Array<Record<string, unknown>>> {
  const program = `import { log, withLogContext } from ${JSON.stringify(path.join(ROOT, 'dist/logger.js'))};\n${script}`;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
  });
  expect(stderr).toBe('');
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('the logger', () => {
  it('writes one JSON line per entry with level, time and msg, and errors as {name, message, code}', async () => {
    const [line, ...rest] = await logLines(`
      const cause = Object.assign(new Error('the database system is shutting down'), { code: '57P03' });
      log.warn('query failed', { error: cause, nested: { list: [new TypeError('bad')] }, count: 3 });
    `);
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'query failed',
      count: 3,
      error: { name: 'Error', message: 'the database system is shutting down', code: '57P03' },
      nested: { list: [{ name: 'TypeError', message: 'bad' }] },
    });
    expect(JSON.stringify(line)).not.toContain('stack');
    expect(Number.isNaN(Date.parse(String(line?.time)))).toBe(false);
  });

  it('adds the request id of the log context to every line inside it, across awaits, and to no other', async () => {
    const lines = await logLines(`
      await withLogContext({ requestId: 'req-1' }, async () => {
        log.info('inside');
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.info('after an await');
      });
      log.info('outside');
    `);
    expect(lines.map((line) => [line.msg, line.requestId])).toEqual([
      ['inside', 'req-1'],
      ['after an await', 'req-1'],
      ['outside', undefined],
    ]);
  });

  it('writes a message 50 times per window and counts the rest; other messages are unaffected', async () => {
    const lines = await logLines(`
      for (let i = 0; i < 51; i++) log.warn('refused', { i });
      log.warn('other');
    `);
    const refused = lines.filter((line) => line.msg === 'refused');
    expect(refused).toHaveLength(50);
    expect(refused.at(-1)?.i).toBe(49);
    expect(lines.filter((line) => line.msg === 'other')).toHaveLength(1);
  });

  it('honours LOG_LEVEL', async () => {
    const lines = await logLines(`log.info('hidden'); log.warn('shown');`, { LOG_LEVEL: 'warn' });
    expect(lines.map((line) => line.msg)).toEqual(['shown']);
  });
});
