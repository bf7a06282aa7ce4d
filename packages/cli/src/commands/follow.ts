import type { Api } from '../api.js';
import { ExitCode, usageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { BAR_PER_SERVER_MAX, describeCounts, watchRun, type BarsBy, type JobTap } from '../run-watch.js';
import { watchJobs, type WatchTarget } from '../watch.js';

/**
 * Follows jobs to their end (--watch) and says how they ended; with --json the jobs as the API then shows them are
 * printed. Exit 1 when any did not complete.
 */
export async function followToEnd(api: Api, out: Output, targets: WatchTarget[]): Promise<ExitCode> {
  const outcomes = await watchJobs(api, out, targets);
  if (out.json) {
    const jobs = await Promise.all(targets.map((t) => api.call(api.client.GET('/api/jobs/{id}', { params: { path: { id: t.jobId } } }))));
    out.result(jobs, () => {});
  } else {
    for (const o of outcomes.filter((x) => x.state !== 'completed')) out.note(`${o.label}: job ${o.jobId} ${o.state}${o.failedReason ? `: ${o.failedReason}` : ''}`);
  }
  return outcomes.every((o) => o.state === 'completed') ? ExitCode.ok : ExitCode.failed;
}

/** Follows a run to its end (--watch): says how it ended and how each server that did not complete ended; --json prints the run. */
export async function followRun(out: Output, api: Api, runId: string, opened?: JobTap, bars?: BarsBy): Promise<ExitCode> {
  const { run, exitCode } = await watchRun(api, out, runId, opened, bars);
  out.result(run, () => {
    for (const s of run.waves.flatMap((w) => w.servers)) {
      if (s.state === 'failed' || s.state === 'cancelled') out.note(`${s.serverName} ${run.action}: job ${s.jobId} ${s.state}${s.error ? `: ${s.error}` : ''}`);
    }
    out.note(`run ${run.id} ${run.state}${run.reason ? ` (${run.reason})` : ''}: ${describeCounts(run.counts)}`);
  });
  return exitCode;
}

/** `--bars server|wave`, checked. */
export function barsOption(value: string | undefined): BarsBy | undefined {
  if (value === undefined || value === 'server' || value === 'wave') return value;
  throw usageError(`--bars must be server or wave, not "${value}".`);
}

export const BARS_HELP = `fleet run --watch: a bar (or line) per server or per wave (default: per server up to ${BAR_PER_SERVER_MAX} servers)`;
