import type { JobContext } from '@mm/worker-runtime';

/** Progress reports at most this often: each one is a Redis and a PostgreSQL write. */
const MIN_INTERVAL_MS = 1_000;

export interface ProgressMapper {
  /** Bytes done so far; called from a stream, so it never waits (writes are chained and settled later). */
  report(bytesDone: number): void;
  /** Waits for the reports in flight; a failed progress write is logged, never fatal. */
  settled(): Promise<void>;
}

/** Maps bytes done out of `totalBytes` onto the job's milestone range [from, to], throttled to whole percents. */
export function createProgressMapper(ctx: Pick<JobContext<'backup'>, 'progress' | 'log'>, totalBytes: number, from: number, to: number): ProgressMapper {
  let chain: Promise<void> = Promise.resolve();
  let last = from;
  let lastAt = 0;
  return {
    report(bytesDone) {
      if (totalBytes <= 0) return;
      const value = Math.floor(from + ((to - from) * Math.min(bytesDone, totalBytes)) / totalBytes);
      const now = Date.now();
      if (value <= last || value >= to || now - lastAt < MIN_INTERVAL_MS) return;
      last = value;
      lastAt = now;
      chain = chain.then(() => ctx.progress(value)).catch((err: unknown) => ctx.log.warn({ err }, 'progress update failed'));
    },
    settled: () => chain,
  };
}
