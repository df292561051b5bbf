import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    // Test files share one migrated database; each test works as its own freshly made users.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
