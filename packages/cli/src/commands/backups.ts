import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { action } from '../context.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { bytes, since } from '../output.js';
import { resolveServer } from '../servers.js';
import { followToEnd } from './follow.js';

type Row = Record<string, unknown>;
const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function registerBackups(program: Command): void {
  const backups = program.command('backups').description('stored backups');

  backups
    .command('ls')
    .description('backups, newest first (of one server, or of all)')
    .option('--server <server>', 'name or id')
    .option('--limit <n>', 'at most 100 (200 without --server)', '20')
    .action(
      action(async (ctx, opts: { server?: string; limit: string }) => {
        const api = await ctx.api();
        const limit = Number(opts.limit);
        let rows: Row[];
        if (opts.server) {
          const { id } = await resolveServer(api, opts.server);
          rows = (await api.call(api.client.GET('/api/servers/{id}/backups', { params: { path: { id }, query: { limit, offset: 0 } } }))) as Row[];
        } else {
          rows = (await api.call(api.client.GET('/api/history', { params: { query: { type: 'backup', limit } } }))) as Row[];
        }
        ctx.out.result(rows, () =>
          ctx.out.table(
            ['ID', 'SERVER', 'TYPE', 'STATUS', 'SIZE', 'CREATED'],
            rows.map((b) => [
              text(b.id),
              text(b.serverName ?? b.serverId),
              text(b.backupType),
              text(b.status),
              bytes(typeof b.sizeBytes === 'number' ? b.sizeBytes : null),
              `${since(text(b.createdAt))} ago`,
            ]),
          ),
        );
      }),
    );

  backups
    .command('files')
    .description("one folder of a repository backup's file listing (every page)")
    .argument('<id>', 'backup id')
    .option('--path <path>', "a folder inside the backup ('/' or absent: the top)")
    .action(
      action(async (ctx, id: string, opts: { path?: string }) => {
        const api = await ctx.api();
        type Entry = { name: string; path: string; type: string; size: number; mtime: string | null };
        const entries: Entry[] = [];
        let cursor: string | undefined;
        do {
          const page = await api.call(
            api.client.GET('/api/backups/{id}/files', { params: { path: { id }, query: { limit: 1_000, ...(opts.path ? { path: opts.path } : {}), ...(cursor ? { cursor } : {}) } } }),
          );
          entries.push(...page.entries);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        ctx.out.result(entries, () =>
          ctx.out.table(
            ['TYPE', 'SIZE', 'MODIFIED', 'PATH'],
            entries.map((e) => [e.type, e.type === 'dir' ? '' : bytes(e.size), e.mtime, `/${e.path}${e.type === 'dir' ? '/' : ''}`]),
          ),
        );
      }),
    );

  backups
    .command('download')
    .description('download a stored backup file and check its sha256')
    .argument('<id>', 'backup id')
    .option('-o, --output <file>', 'where to write it ("-" = stdout; default: the name the API suggests, here)')
    .action(
      action(async (ctx, id: string, opts: { output?: string }) => {
        const api = await ctx.api();
        const response = await api.fetch(`api/backups/${encodeURIComponent(id)}/download`);
        const expected = response.headers.get('x-checksum-sha256');
        const suggested = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? `${id}.tar`;
        const target = opts.output ?? suggested;
        const hash = createHash('sha256');
        let size = 0;
        const tap = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
        await pipeline(body, tap, target === '-' ? ctx.out.stdout : createWriteStream(target, { mode: 0o600 }));
        const actual = hash.digest('hex');
        if (expected && actual !== expected) {
          if (target !== '-') await rm(target, { force: true });
          throw new CliError(`Checksum mismatch for backup ${id}: expected ${expected}, got ${actual}; the file was removed.`, ExitCode.failed);
        }
        const summary = { backupId: id, file: target === '-' ? null : target, sizeBytes: size, sha256: actual };
        if (target === '-') ctx.out.note(`${bytes(size)}, sha256 ${actual} (checked)`);
        else ctx.out.result(summary, () => ctx.out.line(`${target}: ${bytes(size)}, sha256 ${actual} (checked)`));
      }),
    );

  backups
    .command('restore')
    .description('restore a backup (with its chain) under a folder on its server, or on another server')
    .argument('<id>', 'backup id')
    .requiredOption('--target-path <path>', "absolute folder on the server; files land at <path>/<original path>; '/' restores in place")
    .option('--server <server>', 'restore onto this server instead (name or id)')
    .option('-w, --watch', 'follow the restore job to its end')
    .action(
      action(async (ctx, id: string, opts: { targetPath: string; server?: string; watch?: boolean }) => {
        const api = await ctx.api();
        const serverId = opts.server ? (await resolveServer(api, opts.server)).id : undefined;
        const accepted = await api.call(
          api.client.POST('/api/backups/{id}/restore', { params: { path: { id } }, body: { targetPath: opts.targetPath, ...(serverId ? { serverId } : {}) } }),
        );
        if (opts.watch) {
          if (!ctx.out.json) ctx.out.note(`restore ${accepted.restoreId} enqueued (job ${accepted.jobId})`);
          return followToEnd(api, ctx.out, [{ jobId: accepted.jobId, queue: 'backup', label: `restore ${id.slice(0, 8)}` }]);
        }
        ctx.out.result(accepted, () => ctx.out.line(`restore ${accepted.restoreId} enqueued as job ${accepted.jobId} (server ${accepted.serverId}, into ${opts.targetPath})`));
        return ExitCode.ok;
      }),
    );
}
