/**
 * What every scenario is given and what it must provide. Kept here, below both bench/run.ts and
 * bench/scenarios/*, so that the runner imports the scenarios and the scenarios import nothing above
 * them (arrows point down).
 */
import type { BenchServer } from './database.js';
import type { Table } from './report.js';

/** `quick`: a smoke run (`npm run bench -- --quick`); `full`: the sizes BENCHMARKS.md reports. */
export type Mode = 'quick' | 'full';

export interface BenchContext {
  mode: Mode;
  server: BenchServer;
  /** Picks the quick or the full size. */
  size<T>(quick: T, full: T): T;
}

export interface Scenario {
  /** Name for `--only` (e.g. `throughput`). */
  key: string;
  title: string;
  run(context: BenchContext): Promise<Table[]>;
}

export function createContext(mode: Mode, server: BenchServer): BenchContext {
  return { mode, server, size: (quick, full) => (mode === 'quick' ? quick : full) };
}
