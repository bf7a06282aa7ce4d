import type { Logger } from '@mm/config';
import { settlesWithin } from './settles-within.js';

interface Step {
  name: string;
  run: () => Promise<unknown> | void;
  /** How long the step may take before the teardown moves on (it keeps running detached). */
  waitMs: number;
}

/**
 * What a worker process closes, registered as each part opens and run once in reverse order: the same list when the
 * start fails half-way and on shutdown. A step that fails or hangs is logged and skipped; the teardown never rejects.
 */
export class Teardown {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  add(name: string, run: Step['run'], waitMs = 5_000): void {
    this.steps.push({ name, run, waitMs });
  }

  /** Runs every step, last registered first. Safe to call twice: the second call waits for the first. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        const done = Promise.resolve()
          .then(step.run)
          .catch((err: unknown) => this.log.warn({ err, step: step.name }, 'teardown step failed'));
        if (!(await settlesWithin(done, step.waitMs))) this.log.warn({ step: step.name, waitMs: step.waitMs }, 'teardown step did not finish in time');
      }
    })();
    return this.running;
  }
}
