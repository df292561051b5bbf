import type { Table } from '../lib/report.js';
import type { BenchContext } from '../run.js';

export interface Scenario {
  key: string;
  title: string;
  run(context: BenchContext): Promise<Table[]>;
}
