import type { Command } from 'commander';
import type { paths } from '@mm/client';
import type { Api } from '../api.js';
import { action } from '../context.js';
import { ExitCode, usageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { JobTap } from '../run-watch.js';
import { resolveTargets } from '../servers.js';
import { BARS_HELP, barsOption, followRun, followToEnd } from './follow.js';

type Kind = 'backup' | 'scan' | 'update';

interface TriggerOptions {
  tag?: string;
  selector?: string;
  concurrency?: string;
  waves?: string;
  maxFail?: string;
  gate?: string;
  wavePause?: string;
  bars?: string;
  watch?: boolean;
  type?: string;
  compression?: boolean;
  encryption?: boolean;
  dryRun?: boolean;
  package?: string[];
  now?: boolean;
  reboot?: string;
}

/** The body of `POST /api/fleet-runs`, as the generated client types it. */
type RunBody = NonNullable<paths['/api/fleet-runs']['post']['requestBody']>['content']['application/json'];

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** One server: one job, through the action's own route. */
async function enqueue(api: Api, kind: Kind, serverId: string, opts: TriggerOptions): Promise<{ jobId: string; recordId: string }> {
  const path = { params: { path: { serverId } } };
  if (kind === 'backup') {
    const type = opts.type ?? 'full';
    if (type !== 'full' && type !== 'incremental') throw usageError(`--type must be full or incremental, not "${type}".`);
    const data = await api.call(
      api.client.POST('/api/servers/{serverId}/backup', { ...path, body: { backup_type: type, compression: opts.compression !== false, encryption: opts.encryption === true } }),
    );
    return { jobId: data.jobId, recordId: data.backupId };
  }
  if (kind === 'scan') {
    const type = opts.type ?? 'full';
    if (type !== 'full' && type !== 'quick') throw usageError(`--type must be full or quick, not "${type}".`);
    const data = await api.call(api.client.POST('/api/servers/{serverId}/scan', { ...path, body: { scan_type: type } }));
    return { jobId: data.jobId, recordId: data.scanId };
  }
  const data = await api.call(
    api.client.POST('/api/servers/{serverId}/update', {
      params: { path: { serverId }, query: { now: opts.now === true } },
      body: updateOptions(opts),
    }),
  );
  return { jobId: data.jobId, recordId: data.updateId };
}

/** `--dry-run`, `--package`, `--reboot never|if-required` as the update route takes them. */
function updateOptions(opts: TriggerOptions): { dry_run: boolean; packages?: string[]; reboot?: 'never' | 'if-required' } {
  if (opts.reboot !== undefined && opts.reboot !== 'never' && opts.reboot !== 'if-required') throw usageError(`--reboot must be never or if-required, not "${opts.reboot}".`);
  return { dry_run: opts.dryRun === true, ...(opts.package ? { packages: opts.package } : {}), ...(opts.reboot ? { reboot: opts.reboot } : {}) };
}

/** The action's options as its single-server route and `POST /api/fleet-runs` both take them. */
function actionOptions(kind: Kind, opts: TriggerOptions): Record<string, unknown> {
  if (kind === 'backup') return { backup_type: opts.type ?? 'full', compression: opts.compression !== false, encryption: opts.encryption === true };
  if (kind === 'scan') return { scan_type: opts.type ?? 'full' };
  return updateOptions(opts);
}

function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw usageError(`${name} "${value}" is not a whole number.`);
  return Number(value);
}

/** A selector given as JSON (`--selector '{"tagsAny":["web"]}'`); the API checks its fields. */
function parseSelector(json: string): RunBody['selector'] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw usageError(`--selector is not valid JSON: ${json}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw usageError('--selector must be a JSON object, e.g. \'{"tagsAny":["web"]}\'.');
  return value as RunBody['selector'];
}

/** The rollout options (--waves, --max-fail, --gate, --wave-pause), or undefined when none is given. */
function rolloutOf(opts: TriggerOptions): RunBody['rollout'] {
  if (opts.waves === undefined && opts.maxFail === undefined && opts.gate === undefined && opts.wavePause === undefined) return undefined;
  const waves = (opts.waves ?? '100%').split(',').map((w) => (/^\d+$/.test(w.trim()) ? Number(w.trim()) : w.trim()));
  const maxFail = opts.maxFail === undefined ? undefined : Number(opts.maxFail);
  if (maxFail !== undefined && !Number.isFinite(maxFail)) throw usageError(`--max-fail "${opts.maxFail}" is not a number.`);
  if (opts.gate !== undefined && opts.gate !== 'quick' && opts.gate !== 'full') throw usageError(`--gate must be quick or full, not "${opts.gate}".`);
  const wavePause = integerOption('--wave-pause', opts.wavePause);
  return {
    waves,
    ...(maxFail !== undefined ? { maxFailPercentage: maxFail } : {}),
    ...(opts.gate ? { gate: { scan: opts.gate as 'quick' | 'full' } } : {}),
    ...(wavePause !== undefined ? { pauseBetweenWavesS: wavePause } : {}),
  };
}

const RUN_OPTIONS = ['concurrency', 'waves', 'maxFail', 'gate', 'wavePause', 'bars'] as const;

/** The selector of a fleet run, or null when the command names exactly one server (one job). */
async function selectorOf(api: Api, refs: string[], opts: TriggerOptions): Promise<RunBody['selector'] | null> {
  const kinds = [refs.length > 0, opts.tag !== undefined, opts.selector !== undefined].filter(Boolean).length;
  if (kinds > 1) throw usageError('Name servers, or give --tag, or --selector: only one of them.');
  if (kinds === 0) throw usageError('Name at least one server (by name or id), or give --tag or --selector.');
  if (opts.selector !== undefined) return parseSelector(opts.selector);
  if (opts.tag !== undefined) return { tagsAll: [opts.tag] };
  if (refs.length === 1) {
    const given = RUN_OPTIONS.find((o) => opts[o] !== undefined);
    if (given) throw usageError(`--${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for fleet runs (several servers, --tag or --selector), not one server.`);
    return null;
  }
  return { ids: [...new Set((await resolveTargets(api, refs, undefined)).map((s) => s.id))] };
}

function register(program: Command, kind: Kind, description: string, extra: (c: Command) => Command): void {
  const command = program
    .command(kind)
    .description(`${description}: one server is one job; several, --tag or --selector start one fleet run`)
    .argument('[servers...]', 'names or ids')
    .option('--tag <tag>', 'every server with this tag (a fleet run)')
    .option('--selector <json>', 'servers matching a selector (a fleet run), e.g. \'{"tagsAny":["web"],"exclude":{"names":["web-canary-*"]}}\'')
    .option('--concurrency <n>', 'fleet run: at most this many jobs at once (API default 10)')
    .option('--waves <sizes>', 'fleet run: wave sizes in order, the last 100%, e.g. 1,10%,100%')
    .option('--max-fail <percent>', "fleet run: stop when more than this share of a wave fails (default 0; needs waves)")
    .option('--gate <scan>', "fleet run: quick or full scan of each wave's servers before the next wave")
    .option('--wave-pause <seconds>', 'fleet run: pause between waves')
    .option('-w, --watch', 'follow the job or run to its end (progress bars on a terminal, timestamped lines otherwise)')
    .option('--bars <by>', BARS_HELP);
  extra(command).action(
    action(async (ctx, refs: string[], opts: TriggerOptions) => {
      if (kind !== 'update' && opts.type !== undefined) {
        const allowed = kind === 'backup' ? ['full', 'incremental'] : ['full', 'quick'];
        if (!allowed.includes(opts.type)) throw usageError(`--type must be ${allowed.join(' or ')}, not "${opts.type}".`);
      }
      const bars = barsOption(opts.bars);
      const api = await ctx.api();
      const selector = await selectorOf(api, refs, opts);
      if (selector === null) return triggerOne(ctx.out, api, kind, refs[0] as string, opts);
      const concurrency = integerOption('--concurrency', opts.concurrency);
      const rollout = rolloutOf(opts);
      // Opened before the run starts, so the first milestones of its first jobs are not missed.
      const tap = opts.watch && !ctx.out.json ? new JobTap(api, kind, (err) => ctx.out.note(`mm: live job progress unavailable: ${err.message}`)) : undefined;
      let started: { runId: string; servers: { id: string; name: string; wave: number; jobId: string }[] };
      try {
        await tap?.ready;
        started = await api.call(
          api.client.POST('/api/fleet-runs', {
            params: { query: { now: opts.now === true } },
            body: { action: kind, selector, options: actionOptions(kind, opts), ...(concurrency !== undefined ? { concurrency } : {}), ...(rollout ? { rollout } : {}) },
          }),
        );
      } catch (err) {
        await tap?.stop();
        throw err;
      }
      const waves = new Set(started.servers.map((s) => s.wave)).size;
      const what = `${kind}: fleet run ${started.runId}, ${started.servers.length} server${started.servers.length === 1 ? '' : 's'} in ${waves} wave${waves === 1 ? '' : 's'}`;
      if (!opts.watch) {
        ctx.out.result(started, () => {
          ctx.out.line(what);
          ctx.out.table(['WAVE', 'SERVER', 'JOB'], started.servers.map((s) => [s.wave, s.name, s.jobId]));
        });
        return ExitCode.ok;
      }
      if (!ctx.out.json) ctx.out.note(what);
      return followRun(ctx.out, api, started.runId, tap, bars);
    }),
  );
}

/** One server, one job: enqueued through the action's own route, followed over the job's event stream. */
async function triggerOne(out: Output, api: Api, kind: Kind, ref: string, opts: TriggerOptions): Promise<ExitCode> {
  const [server] = (await resolveTargets(api, [ref], undefined)) as [{ id: string; name: string }];
  const e = { server, ...(await enqueue(api, kind, server.id, opts)) };
  if (!opts.watch) {
    out.result([{ serverId: e.server.id, serverName: e.server.name, jobId: e.jobId, recordId: e.recordId }], () =>
      out.table(['SERVER', 'JOB', `${kind.toUpperCase()} ID`], [[e.server.name, e.jobId, e.recordId]]),
    );
    return ExitCode.ok;
  }
  if (!out.json) out.note(`${kind}: job ${e.jobId} enqueued`);
  return followToEnd(api, out, [{ jobId: e.jobId, queue: kind, label: `${e.server.name} ${kind}` }]);
}

export function registerTriggers(program: Command): void {
  register(program, 'backup', 'back up servers', (c) =>
    c
      .option('--type <type>', 'full or incremental (default full)')
      .option('--no-compression', 'store the archive uncompressed')
      .option('--encryption', 'encrypt the archive (AES-256-GCM)'),
  );
  register(program, 'scan', 'scan servers (reachability, packages, findings)', (c) => c.option('--type <type>', 'full or quick (default full)'));
  register(program, 'update', 'update packages on servers', (c) =>
    c
      .option('--dry-run', 'only report what would change')
      .option('--package <name>', 'only this package (repeatable)', collect)
      .option('--reboot <policy>', 'never (default) or if-required: reboot a server that needs it after the update and wait for it')
      .option('--now', "admin: start now, outside the servers' maintenance windows (?now=true)"),
  );
}
