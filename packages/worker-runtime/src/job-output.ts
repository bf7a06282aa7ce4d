import type { QueueAlias } from '@mm/jobs';
import type { JobContext } from './job-context.js';

export interface JobOutput {
  /** Queues a line for the job log; never blocks the SSH stream callback. */
  line(text: string): void;
  /** Queues a progress value; values not above the last one are dropped so progress only moves forward. */
  progress(value: number): void;
  /** Waits until everything queued is written; rethrows the first write error. */
  flush(): Promise<void>;
}

/**
 * SSH line callbacks are synchronous, while job-log and progress writes are async: this keeps them in
 * arrival order on one promise chain that the handler awaits with flush().
 */
export function createJobOutput(ctx: Pick<JobContext<QueueAlias>, 'output' | 'progress'>, initialProgress = 0): JobOutput {
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  let lastProgress = initialProgress;
  const push = (write: () => Promise<void>) => {
    chain = chain.then(write).catch((err: unknown) => {
      failure ??= err;
    });
  };
  return {
    line: (text) => push(() => ctx.output(text)),
    progress(value) {
      if (value <= lastProgress) return;
      lastProgress = value;
      push(() => ctx.progress(value));
    },
    async flush() {
      await chain;
      if (failure !== undefined) throw failure;
    },
  };
}
