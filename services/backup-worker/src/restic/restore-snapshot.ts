import { UnrecoverableError } from 'bullmq';
import { and, eq, inArray } from 'drizzle-orm';
import { restores, type Backup } from '@mm/db';
import type { RestorePayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { extractCommand, lineCounter, makeTarget } from '../remote-extract.js';
import { RestoreProgress, type RestoreJobResult } from '../restore-result.js';
import type { BackupSettings } from '../settings.js';
import { interpretTarExit } from '../tar-command.js';
import { createProgressMapper } from '../transfer-progress.js';
import { jobError, openRepository } from './open-repository.js';
import { readSnapshot, SnapshotIntegrityError } from './read-snapshot.js';
import { repositoryOfRecord } from './resolve-target.js';

type BackupContext = JobContext<'backup'>;

/**
 * Restores a repository backup: `restic dump` of its tar streamed into `tar -x` on the server over SSH. A snapshot is
 * complete on its own, so there is no chain. restic authenticates every blob it reads (a damaged pack fails there);
 * the stream is also hashed against the record and fails before its end on a mismatch.
 */
export async function restoreSnapshot(settings: BackupSettings, payload: RestorePayload, backup: Backup, ctx: BackupContext): Promise<RestoreJobResult> {
  const { restoreId, backupId, serverId, targetPath } = payload;
  const paths = payload.paths?.length ? payload.paths : undefined;
  if (backup.status !== 'completed' || !backup.snapshotId) throw new UnrecoverableError(`backup ${backupId} is ${backup.status}, not a completed snapshot`);
  const { server, target } = await ctx.loadServer(serverId);
  const session = await ctx.connect(server, target);
  await ctx.progress(RestoreProgress.SERVER_VERIFIED);

  await ctx.record.start();
  const open = and(eq(restores.id, restoreId), inArray(restores.status, ['pending', 'running']));
  await ctx.db.update(restores).set({ chain: [backupId], updatedAt: new Date() }).where(open);
  await ctx.progress(RestoreProgress.RECORD_CREATED);

  const repo = await openRepository(settings, await repositoryOfRecord(settings, ctx.db, backup.storageTargetId));
  try {
    await makeTarget(session, ctx, targetPath);
    await ctx.progress(RestoreProgress.CHAIN_VERIFIED);
    ctx.log.info({ backupId, snapshotId: backup.snapshotId, targetPath }, 'restore transfer started');
    const progress = createProgressMapper(ctx, backup.sizeBytes ?? 0, RestoreProgress.CHAIN_VERIFIED, RestoreProgress.TRANSFERRED);
    const read = await readSnapshot(repo, backup, progress.report);
    const counter = lineCounter();
    let feedError: unknown;
    let streamError: Error | undefined;
    read.stream.on('error', (err) => (streamError ??= err));
    let streamed;
    try {
      streamed = await session.execToStream(extractCommand(targetPath, false, false, paths), counter.sink, { stdin: read.stream, signal: ctx.signal, timeoutMs: 0 });
    } catch (err) {
      read.kill();
      feedError = err;
    }
    const dumpError = await read.done.then(() => undefined, (err: unknown) => err);
    await progress.settled();
    if (dumpError) throw jobError(dumpError);
    feedError = streamError ?? feedError;
    if (feedError) throw feedError instanceof SnapshotIntegrityError ? new UnrecoverableError(`backup ${backupId} could not be restored: ${feedError.message}`) : feedError;
    if (!streamed) throw new Error('restore stream ended without a result');
    const outcome = interpretTarExit(streamed.code, streamed.signal, streamed.stderr);
    if (!outcome.ok) throw outcome.retryable ? new Error(`extracting backup ${backupId}: ${outcome.reason}`) : new UnrecoverableError(`extracting backup ${backupId}: ${outcome.reason}`);
    await ctx.progress(RestoreProgress.TRANSFERRED);
    for (const warning of outcome.warnings) await ctx.output(`warning (backup ${backupId}): ${warning}`);

    const result: RestoreJobResult = { restoreId, backupId, serverId, targetPath, paths: paths ?? null, chain: [backupId], bytes: read.bytes(), entries: counter.count(), warnings: outcome.warnings };
    await ctx.db.update(restores).set({ bytes: read.bytes(), updatedAt: new Date() }).where(open);
    await ctx.record.complete({ result });
    await ctx.progress(RestoreProgress.RECORD_UPDATED);
    ctx.log.info({ backupId, targetPath, bytes: result.bytes, entries: result.entries }, 'restore completed');
    return result;
  } finally {
    await repo.close();
  }
}
