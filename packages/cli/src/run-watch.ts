import type { SingleBar } from 'cli-progress';
import type { ApiData } from '@mm/client';
import type { Api } from './api.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { JobEvent } from './job-events.js';
import { createMultiBar } from './multi-bar.js';
import type { Output } from './output.js';
import { readSse } from './sse.js';
import { milestoneOf } from './watch.js';

export type RunDetail = ApiData<'/api/fleet-runs/{id}', 'get'>;
export type RunSummary = ApiData<'/api/fleet-runs', 'get'>[number];
type RunServer = RunDetail['waves'][number]['servers'][number];
type Counts = RunSummary['counts'];

/** `--bars`: what a bar stands for. */
export type BarsBy = 'server' | 'wave';

/** Up to this many servers a run is drawn (and its jobs' milestones followed) server by server; above, wave by wave. */
export const BAR_PER_SERVER_MAX = 20;
/** The run stream says that something changed; the per-server view is read again at most this often. */
const REFRESH_MS = 1_000;
const RECONNECTS = 5;
const RECONNECT_PAUSE_MS = 1_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FINISHED: (keyof Counts)[] = ['completed', 'failed', 'cancelled', 'skipped'];
const finishedOf = (c: Counts) => FINISHED.reduce((n, k) => n + c[k], 0);
const totalOf = (c: Counts) => finishedOf(c) + c.pending + c.queued;

export const describeCounts = (c: Counts) =>
  `${c.completed} done, ${c.failed} failed, ${c.queued} queued, ${c.pending} pending${c.cancelled ? `, ${c.cancelled} cancelled` : ''}${c.skipped ? `, ${c.skipped} skipped` : ''}`;

/** Only the counts that are not zero, for a bar's short text: `1 done, 1 failed, 1 skipped`. */
const shortCounts = (c: Counts) =>
  (['completed', 'failed', 'cancelled', 'skipped', 'queued', 'pending'] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k === 'completed' ? 'done' : k}`)
    .join(', ');

/** 0 when the run completed with every server done; 1 when it failed, was aborted, or any server failed or was cancelled. */
export const exitCodeOfRun = (run: RunSummary): ExitCode =>
  run.state === 'completed' && run.counts.failed === 0 && run.counts.cancelled === 0 ? ExitCode.ok : ExitCode.failed;

/** What a server's job has shown live (per-server mode): its progress and latest milestone. */
interface Live {
  progress: number;
  milestone?: string;
}

/** The run as the watcher knows it: the last full view, newer summaries from the stream, live job progress. */
class RunModel {
  readonly live = new Map<string, Live>();
  constructor(public detail: RunDetail) {}

  get summary(): RunSummary {
    return this.detail;
  }

  applySummary(s: RunSummary): void {
    this.detail = { ...this.detail, ...s };
  }

  /** A job event of one of the run's jobs; true when it changed what is shown. */
  applyJobEvent(e: JobEvent): boolean {
    const live = this.live.get(e.data.jobId) ?? { progress: 0 };
    if (typeof e.data.progress === 'number') live.progress = Math.max(0, Math.min(100, e.data.progress));
    if (e.event === 'log' && e.data.kind === 'milestone' && e.data.line) live.milestone = milestoneOf(e.data.line) ?? live.milestone;
    else if (e.event === 'active') live.milestone = 'running';
    else if (e.event === 'completed') Object.assign(live, { progress: 100, milestone: 'completed' });
    else if (e.event === 'failed') live.milestone = `failed: ${e.data.failedReason ?? 'unknown reason'}`;
    this.live.set(e.data.jobId, live);
    return true;
  }

  /** A server's bar: its percentage and what it is doing, by the run's view first (it is final), then the job's. */
  serverView(s: RunServer): { percent: number; text: string } {
    const live = this.live.get(s.jobId);
    const gate = s.gate ? ` (gate scan ${s.gate.state})` : '';
    switch (s.state) {
      case 'completed':
        return { percent: 100, text: `completed${gate}` };
      case 'failed':
        return { percent: live?.progress ?? 0, text: `failed: ${s.error ?? 'unknown reason'}` };
      case 'queued':
        return { percent: live?.progress ?? 0, text: live?.milestone ?? s.jobState ?? 'queued' };
      case 'pending':
        // The full view is read at most once a second, so a short job can be running, even finishing, while the
        // last view still says pending: its own events are newer than that view.
        return live ? { percent: live.progress, text: live.milestone ?? 'running' } : { percent: 0, text: 'pending' };
      default:
        return { percent: 0, text: s.state };
    }
  }
}

const shortId = (id: string) => id.slice(0, 8);
const runText = (r: RunSummary) => `${r.state} wave ${r.wave}/${r.waveCount}${r.reason ? ` (${r.reason})` : ''}`;

/** What changed: a full view of the run was read, the run's summary arrived, or a job event. */
type Change = 'detail' | 'summary' | 'job';

interface RunView {
  /** Shows the model as it is now. */
  update(change: Change): void;
  /** A live job event (lines only print milestones and warnings). */
  job(server: RunServer, e: JobEvent): void;
  stop(): void;
}

/** On a terminal: a bar for the run, then one per server (small runs) or per wave, with state or milestone names. */
function barView(out: Output, model: RunModel, perServer: boolean): RunView {
  const multibar = createMultiBar(out, '{label} |{bar}| {percentage}% {text}');
  const { detail } = model;
  const servers = detail.waves.flatMap((w) => w.servers);
  const labels = perServer ? servers.map((s) => `${s.serverName} ${detail.action}`) : detail.waves.map((w) => `wave ${w.wave}`);
  const width = Math.max(`run ${shortId(detail.id)}`.length, ...labels.map((l) => l.length));
  const runBar = multibar.create(100, 0, { label: `run ${shortId(detail.id)}`.padEnd(width), text: '' });
  const bars: SingleBar[] = labels.map((label) => multibar.create(100, 0, { label: label.padEnd(width), text: '' }));
  return {
    update() {
      const { summary } = model;
      const total = totalOf(summary.counts);
      runBar.update(total === 0 ? 0 : Math.floor((finishedOf(summary.counts) * 100) / total), { text: `${runText(summary)}: ${shortCounts(summary.counts)}` });
      if (perServer) {
        const byJob = new Map(model.detail.waves.flatMap((w) => w.servers).map((s) => [s.jobId, s]));
        servers.forEach((s, i) => {
          const view = model.serverView(byJob.get(s.jobId) ?? s);
          bars[i]?.update(view.percent, { text: view.text });
        });
      } else {
        model.detail.waves.forEach((w, i) => {
          const size = totalOf(w.counts);
          const state = w.counts.queued > 0 ? 'running' : finishedOf(w.counts) === size ? 'done' : 'waiting';
          bars[i]?.update(size === 0 ? 0 : Math.floor((finishedOf(w.counts) * 100) / size), { text: `${state}: ${shortCounts(w.counts)}` });
        });
      }
      // A frame per change rather than per redraw tick, so changes that arrive in one burst each show once.
      multibar.update();
    },
    job() {},
    stop() {
      multibar.stop();
    },
  };
}

/** Not a terminal: a timestamped line when the run, a server's state, or (small runs) a job's milestone changes. */
function lineView(out: Output, model: RunModel): RunView {
  const say = (text: string) => out.line(`${new Date().toISOString()} ${text}`);
  const action = model.detail.action;
  let lastRun = '';
  let first = true;
  const lastServer = new Map<string, string>();
  return {
    update(change) {
      // Lines follow full views only, so a server's final line comes before the line saying the run is over.
      if (change !== 'detail') return;
      const { summary } = model;
      const runLine = `run ${shortId(summary.id)} ${runText(summary)}: ${describeCounts(summary.counts)}`;
      // Server lines first: the run line that says it is over comes last.
      for (const s of model.detail.waves.flatMap((w) => w.servers)) {
        const text = s.state === 'failed' ? `failed: ${s.error ?? 'unknown reason'}` : s.gate && s.state === 'completed' ? `completed (gate scan ${s.gate.state})` : s.state;
        if (lastServer.get(s.jobId) === text) continue;
        // The first view names only what has started; pending servers are in the run line's count.
        if (!first || s.state !== 'pending') say(`${s.serverName} ${action} ${text}`);
        lastServer.set(s.jobId, text);
      }
      first = false;
      if (runLine !== lastRun) say(runLine);
      lastRun = runLine;
    },
    job(server, e) {
      if (e.event === 'log' && (e.data.kind === 'milestone' || e.data.kind === 'warning')) {
        say(`${server.serverName} ${action} ${e.data.kind === 'warning' ? 'warning: ' : ''}${e.data.line ?? ''}`);
      }
    },
    stop() {},
  };
}

const silentView: RunView = { update() {}, job() {}, stop() {} };

/** Follows the run's own stream (`run` summaries, then `end`) until it ends; a dropped stream is opened again. */
async function followRunStream(api: Api, runId: string, onRun: (s: RunSummary) => void): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    let ended = false;
    try {
      await readSse(api, `api/fleet-runs/${encodeURIComponent(runId)}/events`, {}, (m) => {
        if (m.event === 'run') onRun(JSON.parse(m.data) as RunSummary);
        else if (m.event === 'end') return (ended = true);
        // `error`: the API's Redis is unavailable, or the stream was closed on us; the next attempt says which.
        else if (m.event === 'error') return true;
        return false;
      });
    } catch (err) {
      // Not found, refused or unauthorized will not get better by retrying.
      if (err instanceof CliError && err.exitCode !== ExitCode.unavailable) throw err;
      if (attempt >= RECONNECTS) throw err;
    }
    if (ended) return;
    if (attempt >= RECONNECTS) throw new CliError(`The event stream of fleet run ${runId} kept ending before the run did.`, ExitCode.unavailable);
    await pause(RECONNECT_PAUSE_MS);
  }
}

/** Events kept for a run's jobs before their ids are known (between `ready` and the run's first view). */
const TAP_BUFFER_MAX = 10_000;

/**
 * The live events of a queue's jobs over one `GET /api/events?queue=` stream, resumed with Last-Event-ID when it
 * drops, until stopped. Opened before a run is started (`ready` awaited), it misses none of the run's first
 * milestones: events are kept until `attach` names the run's jobs. Only progress and milestone names come from here;
 * states come from the run's own view.
 */
export class JobTap {
  readonly ready: Promise<void>;
  private readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private buffer: JobEvent[] = [];
  private ids: Set<string> | undefined;
  private handler: ((e: JobEvent) => void) | undefined;

  constructor(api: Api, queue: string, onError: (err: Error) => void) {
    let isReady!: () => void;
    this.ready = new Promise((resolve) => (isReady = resolve));
    this.done = this.follow(api, queue, isReady).catch((err: unknown) => onError(err as Error)).finally(isReady);
  }

  /** From now on (and for what came before), hands over the events of these jobs only. */
  attach(ids: Set<string>, handler: (e: JobEvent) => void): void {
    this.ids = ids;
    this.handler = handler;
    for (const e of this.buffer.splice(0)) if (ids.has(e.data.jobId)) handler(e);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private deliver(e: JobEvent): void {
    if (this.handler) {
      if (this.ids?.has(e.data.jobId)) this.handler(e);
    } else if (this.buffer.length < TAP_BUFFER_MAX) this.buffer.push(e);
  }

  private async follow(api: Api, queue: string, isReady: () => void): Promise<void> {
    const { signal } = this.abort;
    let lastEventId: string | undefined;
    for (let attempt = 0; !signal.aborted; attempt += 1) {
      try {
        lastEventId = await readSse(api, `api/events?queue=${encodeURIComponent(queue)}`, { signal, ...(lastEventId ? { lastEventId } : {}) }, (m) => {
          if (m.event === 'ready') isReady();
          else if (m.event !== 'error') this.deliver({ event: m.event, data: JSON.parse(m.data) as JobEvent['data'] });
          return false;
        });
      } catch (err) {
        if ((err instanceof CliError && err.exitCode !== ExitCode.unavailable) || attempt >= RECONNECTS) throw err;
      }
      if (!signal.aborted) await pause(RECONNECT_PAUSE_MS);
    }
  }
}

/**
 * The run's counts as its servers' states say. The API reads the run row and its servers in two statements, so on a
 * moving run its counts can lag the servers listed after them; the bars and lines show one consistent view.
 */
function withServerCounts(detail: RunDetail): RunDetail {
  if (detail.waves.length === 0) return detail;
  const counts: Counts = { pending: 0, queued: 0, completed: 0, failed: 0, cancelled: 0, skipped: 0 };
  for (const w of detail.waves) for (const k of Object.keys(counts) as (keyof Counts)[]) counts[k] += w.counts[k];
  return { ...detail, counts };
}

export interface RunOutcome {
  run: RunDetail;
  exitCode: ExitCode;
}

/**
 * Follows a fleet run to its end: the run's SSE stream for its state and counts, the full view (`GET
 * /api/fleet-runs/:id`) read again when the stream says something changed (at most once a second), and for runs of up
 * to BAR_PER_SERVER_MAX servers the jobs' own events for milestone names. Renders bars on a terminal, timestamped
 * lines otherwise, nothing with --json; answers the final view and the exit code. `opened`: a tap on the run's queue
 * opened before the run was started (used for small runs, stopped here either way). `bars`: a bar per server or per
 * wave, whatever the run's size.
 */
export async function watchRun(api: Api, out: Output, runId: string, opened?: JobTap, bars?: BarsBy): Promise<RunOutcome> {
  const read = () => api.call(api.client.GET('/api/fleet-runs/{id}', { params: { path: { id: runId } } }));
  const model = new RunModel(withServerCounts(await read()));
  const servers = model.detail.waves.flatMap((w) => w.servers);
  const perServer = (bars ?? (servers.length <= BAR_PER_SERVER_MAX ? 'server' : 'wave')) === 'server';
  const view = out.json ? silentView : out.isTTY ? barView(out, model, perServer) : lineView(out, model);
  const byJob = new Map(servers.map((s) => [s.jobId, s]));
  const onTapError = (err: Error) => out.note(`mm: live job progress unavailable: ${err.message}`);

  // Full views are read one at a time; an answer older than one already shown is dropped.
  let asked = 0;
  let shown = 0;
  let ended = false;
  let refreshing: Promise<void> | undefined;
  let again = false;
  const refresh = async (): Promise<void> => {
    const seq = (asked += 1);
    const detail = withServerCounts(await read());
    if (seq > shown) {
      shown = seq;
      model.detail = detail;
      view.update('detail');
    }
  };
  const poke = () => {
    again = true;
    refreshing ??= (async () => {
      while (again && !ended) {
        again = false;
        // A missed view is not fatal: the next change, or the final read, shows it.
        await refresh().catch((err: unknown) => out.note(`mm: could not read fleet run ${runId}: ${(err as Error).message}`));
        await pause(REFRESH_MS);
      }
    })().finally(() => (refreshing = undefined));
  };

  const live = !out.json && perServer;
  const tap = live ? (opened ?? new JobTap(api, model.detail.action, onTapError)) : undefined;
  if (!live) await opened?.stop();
  try {
    view.update('detail');
    tap?.attach(new Set(byJob.keys()), (e) => {
      const server = byJob.get(e.data.jobId);
      if (!server) return;
      model.applyJobEvent(e);
      view.job(server, e);
      view.update('job');
    });
    await followRunStream(api, runId, (summary) => {
      model.applySummary(summary);
      view.update('summary');
      poke();
    });
    ended = true;
    await tap?.stop();
    await refresh();
  } finally {
    ended = true;
    await tap?.stop();
    view.stop();
  }
  return { run: model.detail, exitCode: exitCodeOfRun(model.detail) };
}
