/** Every scenario, in the order `npm run bench` runs them. */
import type { Scenario } from '../lib/context.js';
import { scenario as api } from './api.js';
import { scenario as burst } from './burst.js';
import { scenario as crash } from './crash.js';
import { scenario as fanout } from './fanout.js';
import { scenario as idle } from './idle.js';
import { scenario as lateness } from './lateness.js';
import { scenario as mixed } from './mixed.js';
import { scenario as scale } from './scale.js';
import { scenario as stall } from './stall.js';
import { scenario as throughput } from './throughput.js';

// Idle first: it measures the least, and later scenarios leave autovacuum work behind them.
// Scale last of the dispatcher scenarios: its two million rows are the heaviest thing left behind.
export const SCENARIOS: Scenario[] = [idle, lateness, burst, throughput, stall, crash, mixed, scale, api, fanout];
