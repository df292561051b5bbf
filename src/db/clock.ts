/**
 * The database's clock, for decisions that cannot ask the database in the same statement (is a
 * token's `exp` past?). Learned as an offset from the host's clock: one `SELECT clock_timestamp()`,
 * with the host time taken as the midpoint of the round trip (the NTP idea), repeated every
 * `refreshMs`. Its error is at most half a round trip; an API host whose clock is minutes off then
 * still judges times as the database, and the dispatcher, do. Decisions inside a change's
 * transaction use `statement_timestamp()` directly (domain/transactions.ts).
 */
import type { Database } from './client.js';

export interface Clock {
  /** Now, by the database's clock once learned (the host's until then), in Unix ms. */
  now(): number;
  /** Resolves once the first attempt to learn the offset has ended, learned or not. */
  ready(): Promise<void>;
}

export class DatabaseClock implements Clock {
  private offsetMs = 0;
  private firstAttempt: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly refreshMs = 60_000,
  ) {}

  now(): number {
    return Date.now() + this.offsetMs;
  }

  async ready(): Promise<void> {
    // Only the first attempt is waited for: with the database unreachable, the host's clock stands
    // in (and a retry runs every second in the background) rather than every request waiting.
    this.firstAttempt ??= this.sample();
    await this.firstAttempt;
  }

  /** Re-learns the offset every `refreshMs` (a host clock can be stepped by NTP at any time). */
  start(): void {
    this.timer ??= setInterval(() => void this.sample(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.timer = undefined;
    this.stopped = true;
  }

  private async sample(): Promise<boolean> {
    try {
      const before = Date.now();
      const rows = await this.db.$queryRaw<Array<{ now: Date }>>`SELECT clock_timestamp() AS now`;
      const after = Date.now();
      const databaseNow = rows[0]?.now;
      if (!(databaseNow instanceof Date)) return false;
      this.offsetMs = databaseNow.getTime() - (before + after) / 2;
      return true;
    } catch {
      if (this.stopped) return false;
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        void this.sample();
      }, 1000);
      this.retry.unref();
      return false;
    }
  }
}
