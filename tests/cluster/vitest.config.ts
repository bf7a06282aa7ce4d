import { defineConfig, mergeConfig } from 'vitest/config';
import preset from '@mm/testing/vitest-preset';

// One file: a real 3-master Redis Cluster, the API and the three job workers as processes, one after the other.
export default mergeConfig(
  preset,
  defineConfig({
    test: {
      fileParallelism: false,
      testTimeout: 90_000,
      hookTimeout: 300_000,
    },
  }),
);
