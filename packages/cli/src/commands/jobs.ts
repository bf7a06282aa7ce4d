import type { Command } from 'commander';
import type { Api } from '../api.js';
import { action } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { followJob, FINAL_EVENTS } from '../job-events.js';
import type { Output } from '../output.js';
import { since } from '../output.js';
import { resolveServer } from '../servers.js';
import { followToEnd } from './follow.js';

const LOG_PAGE = 1_000;

type LogLine = { seq: number; at: string; kind: string; line: string };

/** Prints a job's log lines from `offset` on, page by page; returns the next offset. */
async function printLogs(api: Api, out: Output, id: string, offset: number, sink: LogLine[]): Promise<number> {
  let next = offset;
  for (;;) {
    const page = await api.call(api.client.GET('/api/jobs/{id}/logs', { params: { path: { id }, query: { offset: next, limit: LOG_PAGE } } }));
    for (const l of page.lines) {
      if (out.json) sink.push(l);
      else out.line(`${l.at} ${l.kind === 'output' ? '' : `[${l.kind}] `}${l.line}`);
    }
    next += page.lines.length;
    if (page.lines.length < LOG_PAGE) return next;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('jobs in every queue');

  jobs
    .command('get')
    .description('one job: state, progress, attempts, result or failure')
    .argument('<id>', 'job id')
    .option('-w, --watch', 'follow it to its end')
    .action(
      action(async (ctx, id: string, opts: { watch?: boolean }) => {
        const api = await ctx.api();
        const job = await api.call(api.client.GET('/api/jobs/{id}', { params: { path: { id } } }));
        if (opts.watch) return followToEnd(api, ctx.out, [{ jobId: job.id, queue: job.queue, label: job.name }]);
        ctx.out.result(job, () =>
          ctx.out.fields([
            ['id', job.id],
            ['name', job.name],
            ['queue', job.queue],
            ['state', job.state],
            ['progress', `${job.progress}%`],
            ['attempts', `${job.attempts} of ${job.maxAttempts}`],
            ['server', job.serverId],
            ['created', job.createdAt],
            ['started', job.processedAt],
            ['finished', job.finishedAt],
            ...(job.failedReason ? [['failed', job.failedReason] as [string, string]] : []),
          ]),
        );
        return job.state === 'failed' ? ExitCode.failed : ExitCode.ok;
      }),
    );

  jobs
    .command('ls')
    .description('jobs, newest first')
    .option('--queue <queues>', 'backup, scan, update (comma-separated)')
    .option('--state <states>', 'e.g. failed or active,waiting')
    .option('--server <server>', 'only this server\'s jobs (name or id)')
    .option('--limit <n>', 'at most 100', '20')
    .action(
      action(async (ctx, opts: { queue?: string; state?: string; server?: string; limit: string }) => {
        const api = await ctx.api();
        const serverId = opts.server ? (await resolveServer(api, opts.server)).id : undefined;
        const list = await api.call(
          api.client.GET('/api/jobs', {
            params: { query: { limit: Number(opts.limit), offset: 0, ...(opts.queue ? { queue: opts.queue } : {}), ...(opts.state ? { state: opts.state } : {}), ...(serverId ? { serverId } : {}) } },
          }),
        );
        ctx.out.result(list, () =>
          ctx.out.table(
            ['ID', 'NAME', 'STATE', 'PROGRESS', 'ATTEMPTS', 'CREATED', 'FAILED REASON'],
            list.map((j) => [j.id, j.name, j.state, `${j.progress}%`, `${j.attempts}/${j.maxAttempts}`, `${since(j.createdAt)} ago`, j.failedReason]),
          ),
        );
      }),
    );

  jobs
    .command('logs')
    .description("a job's log lines (remote output, milestones, warnings)")
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .action(
      action(async (ctx, id: string, opts: { follow?: boolean }) => {
        const api = await ctx.api();
        const lines: LogLine[] = [];
        let offset = await printLogs(api, ctx.out, id, 0, lines);
        if (opts.follow) {
          // Events wake the reader; the lines themselves come from PostgreSQL, which has every one (the live stream is rate-limited).
          let reading = Promise.resolve();
          const final = await followJob(api, id, (e) => {
            if (e.event === 'log' || FINAL_EVENTS.has(e.event)) reading = reading.then(async () => void (offset = await printLogs(api, ctx.out, id, offset, lines)));
          });
          await reading;
          // The worker writes log lines in batches: the last ones may land just after the final event.
          for (let quiet = 0; quiet < 3; ) {
            await pause(300);
            const before = offset;
            offset = await printLogs(api, ctx.out, id, offset, lines);
            quiet = offset === before ? quiet + 1 : 0;
          }
          ctx.out.result(lines, () => ctx.out.note(`job ${id} ${final.event}`));
          return final.event === 'completed' ? ExitCode.ok : ExitCode.failed;
        }
        ctx.out.result(lines, () => {});
        return ExitCode.ok;
      }),
    );

  jobs
    .command('cancel')
    .description('cancel a job: a queued one is removed, a running one is stopped by its worker')
    .argument('<id>', 'job id')
    .action(
      action(async (ctx, id: string) => {
        const api = await ctx.api();
        const result = await api.call(api.client.POST('/api/jobs/{id}/cancel', { params: { path: { id } } }));
        ctx.out.result(result, () => ctx.out.line(`job ${id}: ${(result as { status?: string }).status ?? 'cancelled'}`));
      }),
    );

  jobs
    .command('retry')
    .description('retry a failed job')
    .argument('<id>', 'job id')
    .option('-w, --watch', 'follow it to its end')
    .action(
      action(async (ctx, id: string, opts: { watch?: boolean }) => {
        const api = await ctx.api();
        const result = await api.call(api.client.POST('/api/jobs/{id}/retry', { params: { path: { id } } }));
        if (opts.watch) return followToEnd(api, ctx.out, [{ jobId: id, queue: result.queue, label: `job ${id.slice(0, 8)}` }]);
        ctx.out.result(result, () => ctx.out.line(`job ${id} queued again`));
        return ExitCode.ok;
      }),
    );
}
