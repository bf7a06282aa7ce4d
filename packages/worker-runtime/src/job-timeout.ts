import { catalog, isJobName, type JobName } from '@mm/jobs';

/** JOB_TIMEOUTS_MS parsed: per job name, the run-time limit that replaces the catalog's `timeoutMs`. */
export type JobTimeouts = Partial<Record<JobName, number>>;

const MAX_TIMER_MS = 2_147_483_647;

/**
 * Parses `JOB_TIMEOUTS_MS` (`backup:manual=600000,scan:quick=30000`). Throws on an unknown job name, a repeated
 * name or a value that is not a positive integer, so a typo stops the worker at start instead of being ignored.
 */
export function parseJobTimeouts(value: string): JobTimeouts {
  const timeouts: JobTimeouts = {};
  for (const entry of value.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.lastIndexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : entry;
    const ms = eq > 0 ? Number(entry.slice(eq + 1).trim()) : Number.NaN;
    if (!isJobName(name)) throw new Error(`JOB_TIMEOUTS_MS: unknown job name "${name}" (known: ${Object.keys(catalog).join(', ')})`);
    // setTimeout's ceiling (about 24.8 days); past it Node fires at once.
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_TIMER_MS) throw new Error(`JOB_TIMEOUTS_MS: ${name} needs whole milliseconds from 1 to ${MAX_TIMER_MS}, got "${entry}"`);
    if (timeouts[name] !== undefined) throw new Error(`JOB_TIMEOUTS_MS: ${name} is given twice`);
    timeouts[name] = ms;
  }
  return timeouts;
}

/** The limit a job runs under: the env override, else the catalog default. */
export function timeoutOf(name: JobName, overrides: JobTimeouts): number {
  return overrides[name] ?? catalog[name].timeoutMs;
}

export function timeoutMessage(timeoutMs: number): string {
  // Whole seconds as they are; sub-second limits (tests) keep their milliseconds: 1.5 s, 0.02 s.
  return `timed out after ${Number((timeoutMs / 1_000).toFixed(3))} s`;
}

export interface JobTimer {
  /** Aborts when BullMQ's signal does (a cancel) or when the limit passes: what the handler and SSH layer get. */
  signal: AbortSignal;
  timedOut(): boolean;
  clear(): void;
}

/**
 * Wraps the processor's BullMQ signal with the job's own deadline, so a timeout takes the same stop path as a
 * cancel (the SSH layer kills the remote process group, handlers discard partial files).
 */
export function startJobTimer(bullmqSignal: AbortSignal | undefined, timeoutMs: number): JobTimer {
  const controller = new AbortController();
  let expired = false;
  const onCancel = () => controller.abort(bullmqSignal?.reason);
  if (bullmqSignal?.aborted) onCancel();
  else bullmqSignal?.addEventListener('abort', onCancel, { once: true });
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(timeoutMessage(timeoutMs));
  }, timeoutMs);
  timer.unref();
  return {
    signal: controller.signal,
    timedOut: () => expired,
    clear() {
      clearTimeout(timer);
      bullmqSignal?.removeEventListener('abort', onCancel);
    },
  };
}
