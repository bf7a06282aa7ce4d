import { defineConfig } from 'vitest/config';

// Like @mm/db, this package sits below @mm/testing and keeps its own copy of the preset's timeouts.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 120_000, include: ['test/**/*.test.ts'] } });
