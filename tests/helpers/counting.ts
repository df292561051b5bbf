/**
 * A Prisma client that counts the raw statements sent through it, for tests that must know a
 * component had its chance to act (it ran a statement) before asserting that it did not act.
 */
import type { Database } from '../../src/db/client.js';

/** `db` unchanged, but `$queryRaw` / `$executeRaw` calls are counted; `count()` reads the total so far. */
export function countRawStatements(db: Database): { db: Database; count: () => number } {
  let count = 0;
  const proxy = new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === '$queryRaw' || property === '$executeRaw') {
        return (...args: unknown[]) => {
          count += 1;
          return method.apply(target, args);
        };
      }
      return method.bind(target);
    },
  });
  return { db: proxy, count: () => count };
}
