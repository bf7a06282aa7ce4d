/** How big and how many: full mode for docs/PERFORMANCE.md, quick mode so the test suite keeps the harness alive. */
export interface BenchConfig {
  quick: boolean;
  /** A, B rounds per comparison; medians are taken over them. */
  rounds: number;
  /** Seconds of HTTP load per round and per side. */
  httpSeconds: number;
  httpConnections: number;
  ceilingJobs: number;
  redisBenchmarkRequests: number;
  listingSizes: { small: number; large: number };
  pickupSamples: number;
  sshSamples: number;
  /** A full scan costs ~13 s of remote work here (apt-get -s upgrade): few samples, none in quick mode. */
  fullScanSamples: number;
  backupBytes: number;
  scaleOutJobs: number;
  scaleOutServers: number;
  scaleOutWorkers: number[];
  /** Servers in the fleet-run scenario's run (issue #15: 1,000). */
  fleetRunServers: number;
  /**
   * A fleet quick scan over loopback servers at a concurrency (issue #15: 200 at 50): the whole run against
   * servers / concurrency x one quick scan alone, both through the API and real worker processes.
   */
  fleetScan: { servers: number; concurrency: number; singleSamples: number };
  /** Queue backends side by side (Redis and PostgreSQL): jobs enqueued, pickup samples, and quick scans drained over a loopback fleet. */
  backendSizes: { enqueueJobs: number; pickupSamples: number; scanJobs: number; scanServers: number };
  /** When set, the product side of each HTTP comparison is CPU-profiled (first round) into this folder. */
  profileDir?: string;
  log(message: string): void;
}

export function benchConfig(quick: boolean, rounds: number | undefined, log: (message: string) => void, overrides: Partial<BenchConfig> = {}): BenchConfig {
  return { ...baseConfig(quick, rounds, log), ...overrides };
}

function baseConfig(quick: boolean, rounds: number | undefined, log: (message: string) => void): BenchConfig {
  if (quick) {
    return {
      quick,
      rounds: rounds ?? 1,
      httpSeconds: 1,
      httpConnections: 10,
      ceilingJobs: 500,
      redisBenchmarkRequests: 5_000,
      listingSizes: { small: 100, large: 1_000 },
      pickupSamples: 10,
      sshSamples: 3,
      fullScanSamples: 0,
      backupBytes: 4 * 1024 * 1024,
      scaleOutJobs: 30,
      scaleOutServers: 2,
      scaleOutWorkers: [1, 2],
      fleetRunServers: 50,
      fleetScan: { servers: 6, concurrency: 3, singleSamples: 2 },
      backendSizes: { enqueueJobs: 100, pickupSamples: 10, scanJobs: 10, scanServers: 2 },
      log,
    };
  }
  return {
    quick,
    rounds: rounds ?? 3,
    httpSeconds: 5,
    httpConnections: 50,
    ceilingJobs: 5_000,
    redisBenchmarkRequests: 200_000,
    listingSizes: { small: 1_000, large: 100_000 },
    pickupSamples: 200,
    sshSamples: 30,
    fullScanSamples: 3,
    backupBytes: 1024 * 1024 * 1024,
    // The size: 5,000 quick scans per worker count (about a minute each on an idle 2-core machine).
    scaleOutJobs: 5_000,
    scaleOutServers: 20,
    scaleOutWorkers: [1, 2, 4],
    fleetRunServers: 1_000,
    fleetScan: { servers: 200, concurrency: 50, singleSamples: 5 },
    // The 200 quick scans per backend and round.
    backendSizes: { enqueueJobs: 5_000, pickupSamples: 200, scanJobs: 200, scanServers: 10 },
    log,
  };
}
