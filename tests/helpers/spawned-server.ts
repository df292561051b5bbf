/**
 * Tickler as it is deployed: `node dist/server/main.js` (the compiled build, as `npm start` and the
 * image run it) started as a real process with its own environment, its output collected and parsed
 * as JSON log lines. The test run's global setup builds dist/ first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = path.join(ROOT, 'dist/server/main.js');
export const LISTENING = 'Tickler is listening';
/** Variables of the parent environment that would change how the child is configured. */
const CONFIG_VARIABLES = [
  'NODE_ENV',
  'PORT',
  'HOST',
  'DATABASE_URL',
  'TICKLER_DATA_DIR',
  'EMBEDDED_PG_PORT',
  'JWT_SECRET',
  'JWT_JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'GRAPHIQL',
  'MIGRATE_ON_START',
  'SHUTDOWN_GRACE_SECONDS',
  'LOG_LEVEL',
];

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function parseLogLine(line: string): LogLine | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed && typeof parsed.msg === 'string') {
      return parsed as LogLine;
    }
  } catch {
    // Not one of Tickler's log lines (Node may print plain text).
  }
  return undefined;
}

/** A spawned `node dist/server/main.js`, with its output collected. */
export class ServerProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  /** The embedded PostgreSQL's folder, when this server runs one. */
  readonly dataDir: string | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(readonly port: number, env: NodeJS.ProcessEnv) {
    // Its own process group, as a terminal would start it: tests send signals to the process or the group.
    this.dataDir = env.DATABASE_URL === undefined ? env.TICKLER_DATA_DIR : undefined;
    this.child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get graphqlUrl(): string {
    return `${this.baseUrl}/graphql`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/graphql`;
  }

  logs(): LogLine[] {
    return this.stdout
      .split('\n')
      .map(parseLogLine)
      .filter((line): line is LogLine => line !== undefined);
  }

  output(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves when `check` returns a value, re-checking on every output and on exit. */
  private waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number, failOnExit: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (error: Error | undefined, value?: T) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (error) reject(error);
        else resolve(value as T);
      };
      const listener = () => {
        const value = check();
        if (value !== undefined) return finish(undefined, value);
        if (failOnExit && this.exit) {
          finish(new Error(`server exited (${JSON.stringify(this.exit)}) before ${what}\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`)), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  waitForLog(msg: string, timeoutMs = 20_000): Promise<LogLine> {
    return this.waitFor(`the log line "${msg}"`, () => this.logs().find((line) => line.msg === msg), timeoutMs, true);
  }

  waitForExit(timeoutMs = 20_000): Promise<Exit> {
    return this.waitFor('the process to exit', () => this.exit, timeoutMs, false);
  }

  /** Sends a signal to the Node process only, as a process manager would. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Sends a signal to the whole process group, as Ctrl-C in a terminal does. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
  }

  /**
   * Kills the process group and the embedded PostgreSQL (which runs in a session of its own) and
   * waits for them to go.
   */
  async kill(): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && !this.exit) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    }
    if (!this.exit) await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (this.dataDir !== undefined) await killPostmaster(this.dataDir);
  }
}

const spawned: ServerProcess[] = [];

/** Every spawned process dies after its test, however the test ended. */
export async function killSpawned(): Promise<void> {
  await Promise.all(spawned.splice(0).map((server) => server.kill()));
}

export function childEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  env.HOST = '127.0.0.1';
  env.LOG_LEVEL = 'info';
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
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

/** Spawns dist/server/main.js on a free port; the caller waits for whatever it expects. */
export async function spawnServer(env: Record<string, string | undefined>): Promise<ServerProcess> {
  const port = await freePort();
  const server = new ServerProcess(port, childEnv({ PORT: String(port), ...env }));
  spawned.push(server);
  return server;
}

/** Spawns dist/server/main.js and waits until it is listening. */
export async function startServer(env: Record<string, string | undefined>, timeoutMs?: number): Promise<ServerProcess> {
  const server = await spawnServer(env);
  const listening = await server.waitForLog(LISTENING, timeoutMs);
  expect(listening.url).toBe(`http://127.0.0.1:${server.port}/graphql`);
  return server;
}

/** Resolves with the error code of a TCP connection attempt, or 'connected'. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** The PID of a postmaster running on `<dataDir>/pg`, if any (read from its postmaster.pid). */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // Gone, or a zombie waiting for init to reap it ("1234 (postgres) Z ...").
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
  return pid;
}

/** Ends a postmaster left on `dataDir` (immediate shutdown) and waits until it is gone. */
export async function killPostmaster(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await postmasterPid(dataDir)) !== undefined) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Every process on this machine whose command line mentions `text` (e.g. a data folder). */
export async function processesMentioning(text: string): Promise<Array<{ pid: number; command: string }>> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const command = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
      (raw) => raw.replaceAll('\0', ' ').trim(),
      () => '',
    );
    if (command.includes(text)) found.push({ pid: Number(entry), command });
  }
  return found;
}
