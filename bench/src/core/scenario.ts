import type { BenchConfig } from './config.js';

/** One measured figure, the median over rounds; `p99` where a latency distribution exists. */
export interface Measure {
  label: string;
  median: number;
  p99?: number;
  /** Every round's value (or every sample for latencies), so a reader can see the spread. */
  samples: number[];
}

/** A product path next to its raw baseline. `ratio` is always product median / baseline median. */
export interface Metric {
  name: string;
  unit: string;
  product: Measure;
  baseline?: Measure;
  ratio?: number;
  /** Human-readable target, e.g. "ratio >= 0.9". */
  target?: string;
  met?: boolean;
}

export type ScenarioResult =
  | { id: string; title: string; available: true; metrics: Metric[]; notes: string[]; seconds: number }
  | { id: string; title: string; available: false; reason: string; seconds: number };

export interface Scenario {
  id: string;
  title: string;
  run(config: BenchConfig): Promise<{ metrics: Metric[]; notes: string[] }>;
}

/** Thrown by a scenario whose product path does not exist yet; reported as "not available", never as a number. */
export class NotAvailableError extends Error {
  override name = 'NotAvailableError';
}

export function compare(
  name: string,
  unit: string,
  product: Measure,
  baseline: Measure | undefined,
  target?: { text: string; check: (m: { product: Measure; baseline?: Measure; ratio?: number }) => boolean },
): Metric {
  const ratio = baseline && baseline.median > 0 ? product.median / baseline.median : undefined;
  const metric: Metric = { name, unit, product, ...(baseline ? { baseline } : {}), ...(ratio !== undefined ? { ratio } : {}) };
  if (target) {
    metric.target = target.text;
    metric.met = target.check({ product, ...(baseline ? { baseline } : {}), ...(ratio !== undefined ? { ratio } : {}) });
  }
  return metric;
}
