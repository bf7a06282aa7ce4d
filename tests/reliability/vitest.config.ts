import { defineConfig, mergeConfig } from 'vitest/config';
import preset from '@mm/testing/vitest-preset';

// Every file starts real API and worker processes: on a 2-core machine they run one file at a time,
// with timeouts that cover a soak run (RELIABILITY_SOAK=1) as well as CI.
export default mergeConfig(
  preset,
  defineConfig({
    test: {
      fileParallelism: false,
      testTimeout: 20 * 60_000,
      hookTimeout: 5 * 60_000,
    },
  }),
);
