/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON file) into where the time went
 * on a GraphQL request: self time of every sampled function, attributed to a stage by the file it
 * lives in (graphql-js parse/validate/execute, jose, Pothos, Prisma, pg, Yoga/HTTP, ...). Written as
 * a small JSON summary beside the benchmark (bench/profiles/), not the profile itself.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** First match wins: more specific paths before the broader ones. */
const STAGES: Array<[stage: string, test: (url: string, name: string) => boolean]> = [
  ['idle', (_url, name) => name === '(idle)'],
  ['garbage collection', (_url, name) => name === '(garbage collector)'],
  // graphql-js's visitor walks documents for the validation rules (and Pothos' cost rule).
  ['validate (incl. cost, depth, armor rules)', (url) => /\/graphql\/validation\/|\/graphql\/language\/visitor|graphql-armor|plugin-complexity|\/graphql\/limits|validation-cache/.test(url)],
  ['parse', (url) => /\/graphql\/language\//.test(url)],
  ['auth (JWT verification)', (url) => /\/jose\/|\/src\/auth\/|\/src\/domain\/users/.test(url)],
  ['execute (graphql-js / graphql-tools executor)', (url) => /\/graphql\/(execution|jsutils|type|utilities)\/|@graphql-tools\/executor/.test(url)],
  ['resolvers (Pothos, Tickler code)', (url) => /@pothos\/|\/src\/(graphql|domain)\//.test(url)],
  ['Prisma (client, query compiler, adapter)', (url) => /@prisma\/|\/src\/generated\/|\/src\/db\//.test(url)],
  ['pg (driver, protocol)', (url) => /\/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+)\//.test(url)],
  ['HTTP + Yoga + envelop (incl. serialisation)', (url) => /graphql-yoga|@whatwg-node|@envelop|@graphql-tools|\/src\/server\/|node:http|_http_|node:net|node:stream/.test(url)],
  ['node internals', (url) => url.startsWith('node:') || url === ''],
];

export interface ProfileSummary {
  /** Sampled wall time of the profile, ms. */
  totalMs: number;
  /** Non-idle sampled time, ms, and how it splits by stage (percent of non-idle). */
  busyMs: number;
  stages: Array<{ stage: string; ms: number; percent: number }>;
  /** Heaviest functions by self time. */
  topFunctions: Array<{ function: string; where: string; ms: number; percent: number }>;
}

function stageOf(url: string, name: string): string {
  for (const [stage, test] of STAGES) if (test(url, name)) return stage;
  return 'other';
}

/**
 * `window`: only samples taken between these two CLOCK_MONOTONIC instants (µs, as
 * `process.hrtime.bigint() / 1000n` reads them in any process on this machine, the clock V8's
 * profiler stamps samples with), e.g. the load, without start-up and shutdown.
 * A sample in a frame of Node itself (socket writes, WebCrypto) counts for the nearest caller that
 * has a stage, so a socket write under pg is pg's, an HMAC under jose is auth's.
 */
export async function summariseCpuProfile(file: string, window?: { fromUs: number; toUs: number }, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const stageCache = new Map<number, string>();
  const stageFor = (id: number): string => {
    const cached = stageCache.get(id);
    if (cached !== undefined) return cached;
    const node = byId.get(id);
    let stage = node ? stageOf(node.callFrame.url, node.callFrame.functionName) : 'other';
    if (stage === 'node internals' || stage === 'other') {
      const parent = parentOf.get(id);
      const inherited = parent === undefined ? undefined : stageFor(parent);
      if (inherited !== undefined && inherited !== 'node internals' && inherited !== 'other' && inherited !== '(root)') stage = inherited;
    }
    if (node?.callFrame.functionName === '(root)') stage = '(root)';
    stageCache.set(id, stage);
    return stage;
  };
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    at += profile.timeDeltas[index] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[index] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  }
  const stageUs = new Map<string, number>();
  const functionUs = new Map<string, { function: string; where: string; us: number }>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const stage = stageFor(id) === '(root)' ? 'node internals' : stageFor(id);
    totalUs += us;
    stageUs.set(stage, (stageUs.get(stage) ?? 0) + us);
    if (stage === 'idle') continue;
    const where = `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${lineNumber + 1}`;
    const key = `${functionName}@${where}`;
    const entry = functionUs.get(key) ?? { function: `${functionName || '(anonymous)'} [${stage}]`, where, us: 0 };
    entry.us += us;
    functionUs.set(key, entry);
  }
  const busyUs = totalUs - (stageUs.get('idle') ?? 0);
  const percent = (us: number) => Math.round((1000 * us) / Math.max(1, busyUs)) / 10;
  return {
    totalMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    stages: [...stageUs]
      .filter(([stage]) => stage !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([stage, us]) => ({ stage, ms: Math.round(us / 1000), percent: percent(us) })),
    topFunctions: [...functionUs.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ function: entry.function, where: entry.where, ms: Math.round(entry.us / 1000), percent: percent(entry.us) })),
  };
}
