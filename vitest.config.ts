import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql@16 ships CommonJS (main) and ESM (module) builds. Node, and with it Yoga, loads the
    // CommonJS one; Vite would hand our own modules the ESM one. Two copies break `instanceof
    // GraphQLError`, so a scalar's clear error would be masked as internal in tests only. One copy.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    // Test files share one migrated database; each test works as its own freshly made users.
    pool: 'forks',
    // Two files at a time (vitest's default is one fewer than the cores: 1 on a 2-core machine). Most
    // of a file's time is spent waiting on PostgreSQL and on spawned servers, so a second file fills
    // those waits; the shutdown race this exposed (issue 13) is fixed in the product, not here.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
