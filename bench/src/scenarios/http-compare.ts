import type { BenchConfig } from '../core/config.js';
import { alternate } from '../core/alternate.js';
import { withCpuProfile } from '../core/cpu-profile.js';
import { compare, type Measure, type Metric } from '../core/scenario.js';
import { cpuTimes } from '../core/machine.js';
import { cpuOfProcesses, endedChildrenCpu } from '../core/process-cpu.js';
import { median } from '../core/stats.js';
import type { LoadResult, LoadSpec } from '../http/load-spec.js';
import { runLoad } from '../http/run-load.js';

export interface HttpSide {
  label: string;
  spec: Omit<LoadSpec, 'seconds' | 'connections'>;
}

/**
 * A load run plus where the machine's CPU went, per request: this process (where both servers live), the load
 * generator (a child process), Redis and PostgreSQL (their processes on this machine), and the whole machine. On a
 * 2-core machine all of them share the cores, so the throughput ratio follows the machine figure, not only the first.
 */
interface Run extends LoadResult {
  cpuMicrosPerRequest: number;
  loadGeneratorMicrosPerRequest: number | undefined;
  redisMicrosPerRequest: number | undefined;
  postgresMicrosPerRequest: number | undefined;
  machineMicrosPerRequest: number;
}

const perRequest = (before: number | undefined, after: number | undefined, requests: number): number | undefined =>
  before === undefined || after === undefined ? undefined : (after - before) / requests;

function measureOf(label: string, results: Run[], pick: (r: Run) => number | undefined): Measure {
  const samples = results.map(pick).filter((v): v is number => v !== undefined);
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
 * a figure that holds even when other work shares the cores. Full runs add the rest of the machine's CPU account
 * per request (load generator, Redis, PostgreSQL, all processes), which is what bounds throughput on few cores.
 */
export async function compareHttp(config: BenchConfig, name: string, baseline: HttpSide, product: HttpSide, minRatio: number): Promise<Metric[]> {
  const load = async (side: HttpSide, seconds: number): Promise<Run> => {
    // The /proc readings first and last, outside this process's own measured span.
    const before = { children: endedChildrenCpu(), redis: cpuOfProcesses(['redis-server']), postgres: cpuOfProcesses(['postgres']), machine: cpuTimes(), own: process.cpuUsage() };
    const result = await runLoad({ ...side.spec, seconds, connections: config.httpConnections });
    const used = process.cpuUsage(before.own);
    const n = result.total;
    return {
      ...result,
      cpuMicrosPerRequest: (used.user + used.system) / n,
      loadGeneratorMicrosPerRequest: perRequest(before.children, endedChildrenCpu(), n),
      redisMicrosPerRequest: perRequest(before.redis, cpuOfProcesses(['redis-server']), n),
      postgresMicrosPerRequest: perRequest(before.postgres, cpuOfProcesses(['postgres']), n),
      machineMicrosPerRequest: ((cpuTimes().busyMs - before.machine.busyMs) * 1_000) / n,
    };
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
    // /proc counts in 10 ms ticks: a quick run's second of load cannot resolve them.
    ...(config.quick ? [] : cpuElsewhere(name, product.label, runs.product, baseline.label, runs.baseline)),
  ];
}

/** The other rows of the CPU account, each where this machine can read it (Linux /proc). */
function cpuElsewhere(name: string, productLabel: string, product: Run[], baselineLabel: string, baseline: Run[]): Metric[] {
  const rows: [string, (r: Run) => number | undefined][] = [
    ['load generator CPU per request', (r) => r.loadGeneratorMicrosPerRequest],
    ['Redis CPU per request', (r) => r.redisMicrosPerRequest],
    ['PostgreSQL CPU per request', (r) => r.postgresMicrosPerRequest],
    ['machine CPU per request (all processes)', (r) => r.machineMicrosPerRequest],
  ];
  return rows
    .map(([what, pick]) => compare(`${name} ${what}`, 'µs', measureOf(productLabel, product, pick), measureOf(baselineLabel, baseline, pick)))
    .filter((metric) => metric.product.samples.length > 0);
}
