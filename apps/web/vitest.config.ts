import { defineConfig } from 'vitest/config';

// The browser test starts a whole stack (API, workers, sshd, Chromium): one file, generous timeouts, no parallel files.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000, fileParallelism: false },
});
