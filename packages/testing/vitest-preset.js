// Plain JS: vitest loads config files with Node, which cannot import TypeScript from a workspace package.
import { defineConfig } from 'vitest/config';

// Real Redis, PostgreSQL and sshd make some tests slow on a shared 2-core machine: generous timeouts, no timing asserts.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
  },
});
