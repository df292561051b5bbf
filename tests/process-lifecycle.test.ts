/**
 * The process lifecycle of `node dist/server/main.js` with its embedded PostgreSQL, with real
 * processes and real signals: signals at random moments of start-up and under load, Ctrl-C delivered
 * to the whole process group, a start that fails on a taken port, and the postmaster left behind by
 * a SIGKILLed run. Each test has its own data folder and embedded port.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth/tokens.js';
import { DEVELOPMENT_JWT_SECRET } from '../src/config.js';
import {
  freePort,
  killSpawned,
  LISTENING,
  postmasterPid,
  processesMentioning,
  spawnServer,
  startServer,
  type LogLine,
  type ServerProcess,
} from './helpers/spawned-server.js';

const STARTING = 'Tickler is starting';
const folders: string[] = [];

async function newDataDir(): Promise<string> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'tickler-lifecycle-'));
  // As root, PostgreSQL runs as the postgres user, which must be able to enter the folder.
  await chmod(dataDir, 0o755);
  folders.push(dataDir);
  return dataDir;
}

async function embeddedEnv(dataDir: string): Promise<Record<string, string | undefined>> {
  return { DATABASE_URL: undefined, TICKLER_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), SHUTDOWN_GRACE_SECONDS: '5' };
}

let template: string | undefined;

/**
 * A data folder with an initialised, migrated and stopped cluster: the first call starts and stops a
 * server to make one (initdb takes seconds), later calls copy it (`cp -a` keeps the postgres owner).
 */
async function preparedDataDir(): Promise<string> {
  if (template === undefined) {
    const dataDir = await newDataDir();
    const first = await startServer(await embeddedEnv(dataDir), 60_000);
    expect(first.logs().map((line) => line.msg)).toContain('initialising embedded PostgreSQL');
    // Migrated before it is copied, so every copy starts as a restart does.
    await first.waitForLog('Tickler is ready', 60_000);
    first.signal('SIGTERM');
    await expectCleanStop(first, dataDir, 'first start');
    template = dataDir;
  }
  const copy = await newDataDir();
  await promisify(execFile)('cp', ['-a', `${template}/.`, copy]);
  return copy;
}

afterEach(killSpawned);
afterAll(async () => {
  await killSpawned();
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

/** Lines that say something went wrong: level error, or PostgreSQL refusing work because it is shutting down. */
function troubleLines(server: ServerProcess): LogLine[] {
  return server.logs().filter((line) => line.level === 'error' || JSON.stringify(line).includes('57P03'));
}

/** Asserts a clean stop: exit 0, nothing on stderr, no error line, and no process left on the data folder. */
async function expectCleanStop(server: ServerProcess, dataDir: string, context: string): Promise<void> {
  const exit = await server.waitForExit(30_000);
  expect(exit, `${context}\n${server.output()}`).toEqual({ code: 0, signal: null });
  expect(troubleLines(server), context).toEqual([]);
  expect(server.stderr, context).toBe('');
  expect(await processesMentioning(dataDir), context).toEqual([]);
}

const CREATE_TASK = 'mutation($input: CreateTaskInput!) { createTask(input: $input) { __typename } }';

/** Keeps `concurrency` createTask requests in flight until stopped; errors after the server goes are expected. */
function loadOn(server: ServerProcess, token: string, concurrency = 4): { stop: () => Promise<number> } {
  let running = true;
  let completed = 0;
  const loop = async () => {
    while (running) {
      try {
        const response = await fetch(server.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            query: CREATE_TASK,
            variables: { input: { title: 'load', deadline: new Date(Date.now() + 3_600_000).toISOString(), reminders: [{ secondsBeforeDeadline: 60 }] } },
          }),
        });
        await response.text();
        completed += 1;
      } catch {
        return; // The server has closed its port.
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return completed;
    },
  };
}

describe('signals at random moments', () => {
  /** Two lanes of 10 rounds, each on a folder and port of its own, run side by side (their waits overlap). */
  const lanes: Array<{ dataDir: string; env: Record<string, string | undefined> }> = [];
  /** How long a start takes here, from "starting" to "listening" (measured, so the moments scale with the machine). */
  let startupMs: number;

  beforeAll(async () => {
    for (let lane = 0; lane < 2; lane++) {
      const dataDir = await preparedDataDir();
      lanes.push({ dataDir, env: await embeddedEnv(dataDir) });
    }
    const [first] = lanes;
    if (!first) throw new Error('no lane');
    const warm = await startServer(first.env, 60_000);
    const at = (msg: string) => Date.parse(String(warm.logs().find((line) => line.msg === msg)?.time));
    startupMs = at(LISTENING) - at(STARTING);
    warm.signal('SIGTERM');
    await expectCleanStop(warm, first.dataDir, 'warm start');
  }, 120_000);

  it('stops cleanly on 20 SIGTERM/SIGINT signals during start-up and under load: exit 0, no error line, no postgres left', { timeout: 240_000 }, async () => {
    const token = await signToken(DEVELOPMENT_JWT_SECRET, `lifecycle-${Date.now()}`);
    expect(startupMs).toBeGreaterThan(0);
    const counts = { duringStartup: 0, underLoad: 0, sigterm: 0, sigint: 0 };
    const round = async (lane: { dataDir: string; env: Record<string, string | undefined> }, index: number) => {
      const signal: NodeJS.Signals = index % 2 === 0 ? 'SIGTERM' : 'SIGINT';
      // SIGTERM as a process manager sends it (to the process); SIGINT as Ctrl-C does (to the group).
      const send = (server: ServerProcess) => (signal === 'SIGTERM' ? server.signal(signal) : server.signalGroup(signal));
      counts[signal === 'SIGTERM' ? 'sigterm' : 'sigint'] += 1;
      const server = await spawnServer(lane.env);
      const context = `round ${index} (${signal})`;
      if (index % 4 < 2) {
        await server.waitForLog(STARTING, 30_000);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * startupMs));
        send(server);
        counts.duringStartup += 1;
        await expectCleanStop(server, lane.dataDir, context);
      } else {
        await server.waitForLog('Tickler is ready', 30_000);
        const load = loadOn(server, token);
        // A random moment once requests are flowing.
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 500));
        send(server);
        counts.underLoad += 1;
        await expectCleanStop(server, lane.dataDir, context);
        expect(await load.stop(), context).toBeGreaterThan(0);
        // The database went last: after the server drained and the dispatcher released its claims.
        const messages = server.logs().map((line) => line.msg);
        expect(messages, context).toContain('dispatcher stopped');
        expect(messages.indexOf('embedded PostgreSQL stopped'), context).toBeGreaterThan(messages.indexOf('dispatcher stopped'));
      }
      expect(server.logs().map((line) => line.msg), context).toContain('shutting down');
    };
    await Promise.all(
      lanes.map(async (lane, laneIndex) => {
        for (let index = laneIndex; index < 20; index += 2) await round(lane, index);
      }),
    );
    expect(counts).toEqual({ duringStartup: 10, underLoad: 10, sigterm: 10, sigint: 10 });
  });
});


describe('Ctrl-C in a terminal (SIGINT to the whole process group)', () => {
  it('drains with the database still up: PostgreSQL is stopped by Tickler afterwards, no 57P03', { timeout: 90_000 }, async () => {
    const dataDir = await preparedDataDir();
    const server = await startServer(await embeddedEnv(dataDir), 60_000);
    await server.waitForLog('dispatcher started', 30_000);
    const postmaster = await postmasterPid(dataDir);
    expect(postmaster).toBeDefined();
    server.signalGroup('SIGINT');
    await server.waitForLog('shutting down');
    // The group's SIGINT did not reach PostgreSQL: it runs in a session of its own.
    expect(await postmasterPid(dataDir)).toBe(postmaster);
    await expectCleanStop(server, dataDir, 'Ctrl-C');
    const messages = server.logs().map((line) => line.msg);
    expect(messages).toContain('dispatcher stopped');
    expect(messages).not.toContain('dispatcher stopped without releasing its claims');
    expect(messages).not.toContain('notification connection lost; reconnecting');
    expect(messages.indexOf('embedded PostgreSQL stopped')).toBeGreaterThan(messages.indexOf('dispatcher stopped'));
  });
});

describe('a start that fails', () => {
  it('exits 1 with one error line when the port is taken, and leaves no PostgreSQL running', { timeout: 90_000 }, async () => {
    const dataDir = await preparedDataDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const server = await spawnServer({ ...(await embeddedEnv(dataDir)), PORT: String(port) });
      const exit = await server.waitForExit(60_000);
      expect(exit, server.output()).toEqual({ code: 1, signal: null });
      const errors = server.logs().filter((line) => line.level === 'error');
      expect(errors).toHaveLength(1);
      expect(JSON.stringify(errors[0])).toContain('EADDRINUSE');
      // No stack from any library: nothing but JSON lines.
      expect(server.stderr).toBe('');
      expect(server.logs().map((line) => line.msg)).toContain('embedded PostgreSQL stopped');
      expect(await processesMentioning(dataDir)).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('a postmaster left running by a SIGKILLed run', () => {
  it('is detected and stopped by the next start on the same folder, which then works', { timeout: 120_000 }, async () => {
    const dataDir = await preparedDataDir();
    const env = await embeddedEnv(dataDir);
    const killed = await startServer(env, 60_000);
    const leftover = await postmasterPid(dataDir);
    expect(leftover).toBeDefined();
    // SIGKILL to the Node process alone: no handler runs, its PostgreSQL (own session) stays up.
    killed.signal('SIGKILL');
    expect(await killed.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await postmasterPid(dataDir)).toBe(leftover);

    const next = await startServer(env, 60_000);
    expect(next.logs().find((line) => line.msg.startsWith('stopping an embedded PostgreSQL left running'))?.pid).toBe(leftover);
    const fresh = await postmasterPid(dataDir);
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(leftover);
    expect((await fetch(`${next.baseUrl}/ready`)).status).toBe(200);
    next.signal('SIGTERM');
    await expectCleanStop(next, dataDir, 'after a stale postmaster');
  });
});
