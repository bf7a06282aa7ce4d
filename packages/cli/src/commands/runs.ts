import type { Command } from 'commander';
import { action } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { since } from '../output.js';
import { describeCounts as counts } from '../run-watch.js';
import { BARS_HELP, barsOption, followRun } from './follow.js';

/** Fleet runs (issue #15), read, followed and steered; `mm backup|scan|update` with several servers, --tag or --selector start them. */
export function registerRuns(program: Command): void {
  const runs = program.command('runs').description('fleet runs: one action over many servers, in waves');

  runs
    .command('ls')
    .description('fleet runs, newest first')
    .option('--state <state>', 'running, paused, completed, failed or aborted')
    .option('--limit <n>', 'at most 100', '20')
    .action(
      action(async (ctx, opts: { state?: string; limit: string }) => {
        const api = await ctx.api();
        const state = opts.state as 'running' | 'paused' | 'completed' | 'failed' | 'aborted' | undefined;
        const list = await api.call(api.client.GET('/api/fleet-runs', { params: { query: { limit: Number(opts.limit), offset: 0, ...(state ? { state } : {}) } } }));
        ctx.out.result(list, () =>
          ctx.out.table(
            ['ID', 'ACTION', 'STATE', 'WAVE', 'SERVERS', 'CREATED'],
            list.map((r) => [r.id, r.action, r.state, `${r.wave}/${r.waveCount}`, counts(r.counts), `${since(r.createdAt)} ago`]),
          ),
        );
      }),
    );

  runs
    .command('show')
    .description('a fleet run: state, reason, and every server of every wave')
    .argument('<id>', 'run id')
    .option('-w, --watch', 'follow the run to its end (bars on a terminal, timestamped lines otherwise)')
    .option('--bars <by>', BARS_HELP)
    .action(
      action(async (ctx, id: string, opts: { watch?: boolean; bars?: string }) => {
        const bars = barsOption(opts.bars);
        const api = await ctx.api();
        if (opts.watch) return followRun(ctx.out, api, id, undefined, bars);
        const run = await api.call(api.client.GET('/api/fleet-runs/{id}', { params: { path: { id } } }));
        ctx.out.result(run, () => {
          ctx.out.fields([
            ['id', run.id],
            ['action', run.action],
            ['state', `${run.state}${run.reason ? ` (${run.reason})` : ''}`],
            ['wave', `${run.wave} of ${run.waveCount}`],
            ['concurrency', run.concurrency],
            ['servers', counts(run.counts)],
            ['created', run.createdAt],
            ['finished', run.finishedAt],
          ]);
          ctx.out.line();
          ctx.out.table(
            ['WAVE', 'SERVER', 'STATE', 'JOB', 'ERROR'],
            run.waves.flatMap((w) => w.servers.map((s) => [w.wave, s.serverName, s.state, s.jobId, s.error])),
          );
        });
        // Like `mm jobs get`: a run that ended badly exits 1.
        return run.state === 'failed' || run.state === 'aborted' ? ExitCode.failed : ExitCode.ok;
      }),
    );

  for (const verb of ['pause', 'resume'] as const) {
    runs
      .command(verb)
      .description(verb === 'pause' ? 'pause a run: no new server starts; queued and running jobs carry on' : 'resume a paused run')
      .argument('<id>', 'run id')
      .action(
        action(async (ctx, id: string) => {
          const api = await ctx.api();
          const result = await api.call(api.client.POST(`/api/fleet-runs/{id}/${verb}`, { params: { path: { id } } }));
          ctx.out.result(result, () => ctx.out.line(`run ${id}: ${result.state}`));
        }),
      );
  }

  runs
    .command('abort')
    .description('abort a run: servers not started are skipped, queued jobs cancelled')
    .argument('<id>', 'run id')
    .option('--cancel-running', 'also stop the jobs already running')
    .action(
      action(async (ctx, id: string, opts: { cancelRunning?: boolean }) => {
        const api = await ctx.api();
        const result = await api.call(api.client.POST('/api/fleet-runs/{id}/abort', { params: { path: { id }, query: { cancelRunning: opts.cancelRunning === true } } }));
        ctx.out.result(result, () => ctx.out.line(`run ${id}: ${(result as { state?: string }).state ?? 'aborted'}`));
      }),
    );
}
