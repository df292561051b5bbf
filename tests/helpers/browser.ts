/**
 * What the page tests need: Debian's Chromium driven headless by playwright-core, and Tickler run as
 * a real process (`node --import tsx src/server/main.ts`, or the dispatcher's `src/dispatcher/main.ts`)
 * that a test can stop with SIGTERM and start again on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where page tests keep their screenshots (gitignored; CI keeps the folder as an artifact). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** Debian's package (`apt-get install chromium`, done by .ci/run when missing); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  // As root (CI, containers) Chromium refuses to start with its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Every message the page printed about its Content-Security-Policy (Chromium reports each refused
 * script, style or connection on the console): a page that works under its CSP prints none.
 */
export function collectCspViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  return violations;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface LogLine {
  msg: string;
  [field: string]: unknown;
}

/** One Tickler process (API server or worker), its JSON log lines collected. */
export class TicklerProcess {
  private readonly child: ChildProcess;
  private output = '';
  private exitCode: number | null | undefined;
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(script: string, env: NodeJS.ProcessEnv) {
    // Plain node with tsx as a loader: signals reach Tickler itself, with no relay in between.
    this.child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: string) => {
      this.output += chunk;
      for (const waiter of [...this.waiters]) waiter();
    };
    this.child.stdout?.setEncoding('utf8').on('data', collect);
    this.child.stderr?.setEncoding('utf8').on('data', collect);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.exitCode = code;
        for (const waiter of [...this.waiters]) waiter();
        resolve(code);
      }),
    );
  }

  /** The API server on `port` (127.0.0.1), against `databaseUrl`, with `env` on top. */
  static server(port: number, databaseUrl: string, env: Record<string, string> = {}): TicklerProcess {
    return new TicklerProcess('src/server/main.ts', baseEnv({ DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', ...env }));
  }

  /** A dispatcher alone (`npm run worker`). */
  static worker(databaseUrl: string, env: Record<string, string> = {}): TicklerProcess {
    return new TicklerProcess('src/dispatcher/main.ts', baseEnv({ DATABASE_URL: databaseUrl, ...env }));
  }

  logs(): LogLine[] {
    return this.output.split('\n').flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null && 'msg' in parsed ? [parsed as LogLine] : [];
      } catch {
        return [];
      }
    });
  }

  /** Resolves with the first log line `matches` accepts; fails if the process exits first. */
  waitForLog(matches: (line: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs().find(matches);
        if (found) return done(undefined, found);
        if (this.exitCode !== undefined) done(new Error(`process exited (${String(this.exitCode)}) before ${what}\n${this.output}`));
      };
      const done = (error: Error | undefined, line?: LogLine) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve(line as LogLine);
      };
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}\n${this.output}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** SIGTERM, as a process manager stops it; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** For cleanup after a failed test. */
  async kill(): Promise<void> {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
    await this.exited;
  }

  get log(): string {
    return this.output;
  }
}

/** The test's environment without Tickler's own settings, so the child reads only what a test passes. */
function baseEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return { ...env, NODE_ENV: 'development', LOG_LEVEL: 'info', MIGRATE_ON_START: 'false', ...overrides };
}
