/**
 * Child processes for the benchmarks: servers under test (fixtures in bench/fixtures, started with
 * `node --import tsx` so the child's pid is the server itself, not a tsx wrapper, and its RSS is the
 * server's) and one-shot tools such as the autocannon CLI.
 *
 * A fixture announces itself with JSON lines `{"bench": {"kind": ..., ...}}` on stdout; everything
 * else it prints (its own logs) is kept as a short tail for error messages. Every process started here
 * is also killed when the bench process exits, should a scenario's `finally` never run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A message a fixture wrote: `{"bench": {"kind": "ready", ...}}`. */
export interface FixtureMessage {
  kind: string;
  [key: string]: unknown;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Keeps the last lines a process printed, for error messages. */
class Tail {
  private readonly lines: string[] = [];
  constructor(private readonly max = 40) {}
  push(line: string): void {
    this.lines.push(line.length > 500 ? `${line.slice(0, 500)}...` : line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let index: number;
    while ((index = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, index));
      buffered = buffered.slice(index + 1);
    }
  });
  stream.on('end', () => {
    if (buffered.length > 0) onLine(buffered);
  });
}

function parseMessage(line: string): FixtureMessage | undefined {
  if (!line.startsWith('{"bench"')) return undefined;
  try {
    const parsed = JSON.parse(line) as { bench?: unknown };
    const bench = parsed.bench;
    if (typeof bench === 'object' && bench !== null && typeof (bench as { kind?: unknown }).kind === 'string') return bench as FixtureMessage;
  } catch {
    // Not one of ours.
  }
  return undefined;
}

export interface FixtureProcess {
  label: string;
  pid: number;
  /** The `ready` message (fixtures put their port in it). */
  ready: FixtureMessage;
  /** The next message of `kind` (one already received and not yet taken counts). */
  nextMessage(kind: string, timeoutMs?: number): Promise<FixtureMessage>;
  /** Sends a signal to the process (fixtures answer SIGUSR2 with a `memory` message). */
  signal(signal: NodeJS.Signals): void;
  /** Resident set size in bytes, from /proc/<pid>/status. */
  rssBytes(): Promise<number>;
  /** CPU time (user + system) the process has used so far, in milliseconds, from /proc/<pid>/stat. */
  cpuMs(): Promise<number>;
  /** What it printed lately, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartFixtureOptions {
  label: string;
  /** Path of a TypeScript entry point, relative to the repository root. */
  script: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Extra flags for node itself (e.g. --expose-gc). */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
}

export async function readRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

let clockTicksPerSecond: number | undefined;

/** CPU time (user + system) of a process so far, in milliseconds. */
export async function readCpuMs(pid: number): Promise<number> {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read CPU times from /proc/${pid}/stat`);
  return ((utime + stime) * 1000) / clockTicksPerSecond;
}

/** The soft limit on open files of this process (children inherit it), from /proc/self/limits. */
export async function openFilesLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match?.[1]) return Infinity;
  return match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

/** Starts a fixture and waits for its `{"bench":{"kind":"ready"}}` line. */
export async function startFixture(options: StartFixtureOptions): Promise<FixtureProcess> {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', options.script, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const tail = new Tail();
  const queued: FixtureMessage[] = [];
  const waiters: Array<{ kind: string; resolve: (message: FixtureMessage) => void }> = [];
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitListeners = new Set<() => void>();
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
      for (const listener of exitListeners) listener();
    });
  });

  const onLine = (line: string) => {
    const message = parseMessage(line);
    if (!message) {
      if (line.trim().length > 0) tail.push(line);
      return;
    }
    const index = waiters.findIndex((waiter) => waiter.kind === message.kind);
    if (index >= 0) waiters.splice(index, 1)[0]?.resolve(message);
    else queued.push(message);
  };
  forEachLine(child.stdout, onLine);
  forEachLine(child.stderr, (line) => {
    if (line.trim().length > 0) tail.push(line);
  });

  const describeExit = () => `${options.label} exited (code ${exited?.code ?? 'none'}, signal ${exited?.signal ?? 'none'}):\n${tail.toString()}`;

  const nextMessage = (kind: string, timeoutMs = 30_000): Promise<FixtureMessage> => {
    const index = queued.findIndex((message) => message.kind === kind);
    if (index >= 0) return Promise.resolve(queued.splice(index, 1)[0] as FixtureMessage);
    if (exited) return Promise.reject(new Error(describeExit()));
    return new Promise<FixtureMessage>((resolve, reject) => {
      let settled = false;
      const waiter = {
        kind,
        resolve: (message: FixtureMessage) => finish(() => resolve(message)),
      };
      const onExit = () => finish(() => reject(new Error(describeExit())));
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${options.label}: no "${kind}" message within ${timeoutMs} ms; it printed:\n${tail.toString()}`))),
        timeoutMs,
      );
      function finish(settle: () => void): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        exitListeners.delete(onExit);
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        settle();
      }
      waiters.push(waiter);
      exitListeners.add(onExit);
    });
  };

  const stop = async (graceMs = 10_000): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exitPromise;
    clearTimeout(timer);
  };

  let ready: FixtureMessage;
  try {
    ready = await nextMessage('ready', options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop(2000);
    throw error;
  }
  if (child.pid === undefined) throw new Error(`${options.label}: no pid`);
  const pid = child.pid;
  return {
    label: options.label,
    pid,
    ready,
    nextMessage,
    signal: (signal) => {
      if (!exited) child.kill(signal);
    },
    rssBytes: () => readRssBytes(pid),
    cpuMs: () => readCpuMs(pid),
    output: () => tail.toString(),
    stop,
  };
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and collects its output. Killed (SIGTERM, then SIGKILL) if it is
 * still running after `timeoutMs`, or if the bench process exits first.
 */
export async function runTool(command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ToolResult> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    // Progress bars and warnings: keep the end only.
    stderr = (stderr + chunk).slice(-20_000);
  });
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
  }, options.timeoutMs);
  try {
    return await new Promise<ToolResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
