import { soak } from './env.js';

/**
 * CI runs every fault and load test at a smaller but real size (the package must finish in ~5 minutes on a
 * 2-core machine); `pnpm soak` runs the sizes issue 5 asks for. docs/RELIABILITY.md lists both.
 */
export const sizes = soak
  ? {
      workerKills: 20,
      killBackups: 12,
      killScans: 24,
      shutdownJobs: 24,
      // 60 s at 200 + 200, then the same load held for 10 minutes.
      loadPhases: [
        { seconds: 60, concurrency: 200 },
        { seconds: 600, concurrency: 200 },
      ],
      heldJobs: 100_000,
    }
  : {
      workerKills: 5,
      killBackups: 3,
      killScans: 4,
      shutdownJobs: 8,
      loadPhases: [{ seconds: 10, concurrency: 50 }],
      heldJobs: 100_000,
    };
