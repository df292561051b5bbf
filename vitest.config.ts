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
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
