/**
 * `npm start`'s server (dist/server/main.js) as a real child process on a free port, against the
 * test database, with its stdout (JSON log lines) and stderr collected. Optional `preload`
 * modules run before it (`node --import`), e.g. to shift its clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';
import { freePort } from './spawned-server.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export interface LogLine {
  msg: string;
  level: string;
  [field: string]: unknown;
}

export interface ServerProcess {
  url: string;
  wsUrl: string;
  /** Parsed stdout lines so far; a line that is not JSON is kept as `{ msg: '<not json>', raw }`. */
  logs(): LogLine[];
  stderr(): string;
  /** Resolves with the first log line (past or future) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then resolves with the exit status once the process has exited (all its output read). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

export async function spawnServerProcess(
  databaseUrl: string,
  options: { env?: Record<string, string>; preload?: string[] } = {},
): Promise<ServerProcess> {
  const port = await freePort();
  // The compiled build (dist/, made by the global setup) as production runs it; with preload modules
  // (TypeScript, e.g. a clock shift) the sources through tsx's loader.
  const preload = options.preload ?? [];
  const args =
    preload.length === 0 ? ['dist/server/main.js'] : ['--import', 'tsx', ...preload.flatMap((module) => ['--import', module]), 'src/server/main.ts'];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      DISPATCHER: 'false',
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: LogLine[] = [];
  let stderr = '';
  let pending = '';
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const raw = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        line = { msg: '<not json>', level: 'unknown', raw };
      }
      lines.push(line);
      for (const waiter of waiters) {
        if (waiter.match(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const found = lines.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stdout:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.add(waiter);
      void exited.then(() => {
        if (waiters.delete(waiter)) {
          clearTimeout(timer);
          reject(new Error(`server exited; stdout:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`));
        }
      });
    });

  await waitForLog((line) => line.msg === 'Tickler is listening');
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    logs: () => [...lines],
    stderr: () => stderr,
    waitForLog,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
