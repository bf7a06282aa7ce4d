import type { BenchConfig } from '../core/config.js';
import { alternate } from '../core/alternate.js';
import { withCpuProfile } from '../core/cpu-profile.js';
import { compare, type Measure, type Metric } from '../core/scenario.js';
import { median } from '../core/stats.js';
import type { LoadResult, LoadSpec } from '../http/load-spec.js';
import { runLoad } from '../http/run-load.js';

export interface HttpSide {
  label: string;
  spec: Omit<LoadSpec, 'seconds' | 'connections'>;
}

/** A load run plus the CPU this process (where both servers live) spent serving it. */
interface Run extends LoadResult {
  cpuMicrosPerRequest: number;
}

function measureOf(label: string, results: Run[], pick: (r: Run) => number): Measure {
  const samples = results.map(pick);
  return { label, median: median(samples), samples };
}

function latencyOf(label: string, results: Run[]): Measure {
  const p50s = results.map((r) => r.p50);
  return { label, median: median(p50s), p99: median(results.map((r) => r.p99)), samples: p50s };
}

/**
 * Autocannon against baseline and product, alternating; one short unmeasured run of each first so both
 * are JIT-warm. Returns throughput (target: ratio >= minRatio), latency (p50 and p99) and the server CPU
 * per request: the load generator is another process, so this process's CPU time is the servers' own,
 * a figure that holds even when other work shares the cores.
 */
export async function compareHttp(config: BenchConfig, name: string, baseline: HttpSide, product: HttpSide, minRatio: number): Promise<Metric[]> {
  const load = async (side: HttpSide, seconds: number): Promise<Run> => {
    const cpu = process.cpuUsage();
    const result = await runLoad({ ...side.spec, seconds, connections: config.httpConnections });
    const used = process.cpuUsage(cpu);
    return { ...result, cpuMicrosPerRequest: (used.user + used.system) / result.total };
  };
  if (!config.quick) {
    await load(baseline, 2);
    await load(product, 2);
  }
  let profiled = false;
  const runs = await alternate(
    config.rounds,
    () => load(baseline, config.httpSeconds),
    () => {
      if (profiled) return load(product, config.httpSeconds);
      profiled = true;
      return withCpuProfile(config.profileDir, name, () => load(product, config.httpSeconds));
    },
  );
  config.log(`${name}: product ${runs.product.map((r) => r.requestsPerSecond.toFixed(0)).join(', ')} req/s; baseline ${runs.baseline.map((r) => r.requestsPerSecond.toFixed(0)).join(', ')} req/s`);
  return [
    compare(`${name} throughput, ${config.httpConnections} connections`, 'req/s', measureOf(product.label, runs.product, (r) => r.requestsPerSecond), measureOf(baseline.label, runs.baseline, (r) => r.requestsPerSecond), {
      text: `ratio >= ${minRatio}`,
      check: ({ ratio }) => ratio !== undefined && ratio >= minRatio,
    }),
    compare(`${name} latency p50 (p99)`, 'ms', latencyOf(product.label, runs.product), latencyOf(baseline.label, runs.baseline)),
    compare(`${name} server CPU per request`, 'µs', measureOf(product.label, runs.product, (r) => r.cpuMicrosPerRequest), measureOf(baseline.label, runs.baseline, (r) => r.cpuMicrosPerRequest)),
  ];
}
