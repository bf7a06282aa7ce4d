import type { Api } from './api.js';
import { FINAL_EVENTS, followJob, followJobs, type JobEvent } from './job-events.js';
import { createLiveGapNotes } from './live-gap-notes.js';
import { createMultiBar } from './multi-bar.js';
import type { Output } from './output.js';

export interface WatchTarget {
  jobId: string;
  /** The queue alias (backup, scan, update): several jobs of one queue share one event stream. */
  queue: string;
  /** What the operator knows the job by, e.g. `web-1 backup`. */
  label: string;
}

export interface WatchOutcome {
  jobId: string;
  label: string;
  /** completed, failed, cancelled or removed. */
  state: string;
  failedReason?: string;
}

/** A milestone's name from a `log` event's milestone line (`progress 40% (execution started)`), if it names one. */
export function milestoneOf(line: string): string | undefined {
  const named = /^progress \d+% \((.+)\)$/.exec(line);
  if (named) return named[1];
  const attempt = /^attempt (\d+ of \d+) (started|completed|failed)/.exec(line);
  return attempt ? `attempt ${attempt[1]} ${attempt[2]}` : undefined;
}

const percentOf = (progress: unknown): number | undefined => (typeof progress === 'number' && Number.isFinite(progress) ? Math.max(0, Math.min(100, progress)) : undefined);

interface Renderer {
  start(target: WatchTarget): (e: JobEvent) => void;
  stop(): void;
}

/** On a terminal: one bar per job with its latest milestone. */
function barRenderer(out: Output): Renderer {
  const multibar = createMultiBar(out, '{label} |{bar}| {percentage}% {milestone}');
  return {
    start(target) {
      const bar = multibar.create(100, 0, { label: target.label, milestone: 'queued' });
      return (e) => {
        if (e.event === 'completed') return bar.update(100, { milestone: 'completed' });
        const payload: { milestone?: string } = {};
        if (e.event === 'log') {
          const name = e.data.kind === 'milestone' && e.data.line ? milestoneOf(e.data.line) : undefined;
          if (name) payload.milestone = name;
        } else if (e.event === 'state') payload.milestone = e.data.state ?? '';
        else if (e.event === 'active') payload.milestone = 'running';
        else if (e.event === 'failed') payload.milestone = `failed: ${e.data.failedReason ?? 'unknown reason'}`;
        else if (e.event !== 'progress') payload.milestone = e.event;
        const percent = percentOf(e.data.progress);
        if (percent !== undefined) bar.update(percent, payload);
        else bar.update(payload);
        // A frame per milestone, not per redraw tick: a job whose events arrive in one burst (replayed after it ran
        // quickly) still shows each step once, rather than only its final 100 %.
        if (payload.milestone !== undefined) multibar.update();
      };
    },
    stop() {
      multibar.stop();
    },
  };
}

/**
 * Not a terminal (a CI log, a pipe): one timestamped line per state change, progress value and milestone; the worker's
 * "output lines not streamed live" notes coalesced (live-gap-notes.ts).
 */
function lineRenderer(out: Output): Renderer {
  return {
    start(target) {
      const say = (text: string) => out.line(`${new Date().toISOString()} ${target.label} ${text}`);
      const gaps = createLiveGapNotes(target.jobId, (text) => say(`warning: ${text}`));
      return (e) => {
        if (e.event === 'log') {
          if (e.data.kind === 'warning' && gaps.take(e.data.line ?? '')) return;
          if (e.data.kind === 'milestone' || e.data.kind === 'warning') say(`${e.data.kind === 'warning' ? 'warning: ' : ''}${e.data.line ?? ''}`);
          return;
        }
        if (e.event === 'progress') return; // Every progress value also arrives as a milestone log line (`progress 40% (execution started)`), named.
        if (FINAL_EVENTS.has(e.event)) gaps.flush();
        if (e.event === 'state') say(`${e.data.state ?? 'unknown'} (${percentOf(e.data.progress) ?? 0}%)`);
        else if (e.event === 'failed') say(`failed: ${e.data.failedReason ?? 'unknown reason'}`);
        else say(e.event);
      };
    },
    stop() {},
  };
}

/** Nothing on stdout but the final JSON (--json). */
const silentRenderer: Renderer = { start: () => () => {}, stop() {} };

/** Follows every job to its end, rendering as the output allows, and says how each ended. */
export async function watchJobs(api: Api, out: Output, targets: WatchTarget[]): Promise<WatchOutcome[]> {
  const renderer = out.json ? silentRenderer : out.isTTY ? barRenderer(out) : lineRenderer(out);
  const outcome = (target: WatchTarget, final: JobEvent): WatchOutcome => ({
    jobId: target.jobId,
    label: target.label,
    state: final.event,
    ...(final.data.failedReason ? { failedReason: final.data.failedReason } : {}),
  });
  try {
    const renders = new Map(targets.map((t) => [t.jobId, renderer.start(t)]));
    const [first] = targets;
    if (targets.length === 1 && first) return [outcome(first, await followJob(api, first.jobId, (e) => renders.get(first.jobId)?.(e)))];
    const byQueue = new Map<string, WatchTarget[]>();
    for (const t of targets) byQueue.set(t.queue, [...(byQueue.get(t.queue) ?? []), t]);
    const finals = new Map<string, JobEvent>();
    await Promise.all(
      [...byQueue].map(async ([queue, group]) => {
        const ended = await followJobs(api, queue, group.map((t) => t.jobId), (e) => renders.get(e.data.jobId)?.(e));
        for (const [id, e] of ended) finals.set(id, e);
      }),
    );
    return targets.map((t) => outcome(t, finals.get(t.jobId) as JobEvent));
  } finally {
    renderer.stop();
  }
}
