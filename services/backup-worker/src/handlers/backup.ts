import { UnrecoverableError } from 'bullmq';
import { and, eq, inArray } from 'drizzle-orm';
import { backups, type Server } from '@mm/db';
import { BackupProgress, type BackupOptions } from '@mm/jobs';
import type { SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';
import { archiveKey, removeAbandonedPartials } from '../archive-store.js';
import { makeRemoteTempFile, removeRemoteFile, snapshotFileKey, storeSnapshotFile, uploadSnapshotFile } from '../snapshot-file.js';
import { findIncrementalBase, type BackupResultDetails, type IncrementalBase } from '../incremental-base.js';
import { withServerBackupGuard } from '../server-backup-guard.js';
import { diskFullError } from '../storage-error.js';
import { FileListingWriter } from '../restic/file-listing.js';
import { jobError, openRepository } from '../restic/open-repository.js';
import { resolveTarget, type ResolvedTarget } from '../restic/resolve-target.js';
import { backupTag } from '@mm/restic';
import { storeSnapshot } from '../restic/store-snapshot.js';
import type { BackupSettings } from '../settings.js';
import type { BackupStorage } from '../storage/backup-storage.js';
import { buildTarCommand, interpretTarExit } from '../tar-command.js';
import { createProgressMapper } from '../transfer-progress.js';

/** What the job returns (kept in Redis with the finished job): locations and digests only. */
export interface BackupJobResult {
  backupId: string;
  backupType: 'full' | 'incremental';
  engine: 'archive' | 'restic';
  /** Archive engine: the stored file; null for a repository snapshot. */
  filePath: string | null;
  /** Restic engine: the snapshot's full id. */
  snapshotId: string | null;
  sizeBytes: number;
  sha256: string;
  warnings: string[];
}

type BackupContext = JobContext<'backup'>;

const FINAL_STATUSES = new Set(['completed', 'failed', 'cancelled']);

/** A partial is abandoned when it is this job's own (left by a crashed attempt) or its record is final or gone. */
function abandonedPartials(ctx: BackupContext, ownBackupId: string) {
  return async (ids: string[]): Promise<Set<string>> => {
    const rows = await ctx.db.query.backups.findMany({ columns: { id: true, status: true }, where: (b, { inArray }) => inArray(b.id, ids) });
    const status = new Map<string, string>(rows.map((r) => [r.id, r.status]));
    return new Set(ids.filter((id) => id === ownBackupId || !status.has(id) || FINAL_STATUSES.has(status.get(id) ?? '')));
  };
}

/** The server's clock, so incremental backups never depend on the worker's clock agreeing with it. */
async function remoteEpochSeconds(session: SshSession, signal: AbortSignal | undefined): Promise<number> {
  const { stdout, code } = await session.exec('date +%s', { timeoutMs: 30_000, signal });
  const seconds = Number(stdout.trim());
  if (code !== 0 || !Number.isSafeInteger(seconds)) throw new UnrecoverableError('could not read the server clock (date +%s)');
  return seconds;
}

/**
 * A job can run again after its record was finished: a worker that died between completing the record and
 * BullMQ marking the job done, or a job re-queued without POST /api/jobs/:id/retry (which reopens a failed record
 * first: @mm/records reopenFailedRecord). Records only move forward, so a completed backup is reported as it is
 * (never overwritten: its file must keep matching its sha256) and a failed or cancelled one stays as it is.
 */
async function finishedBefore(ctx: BackupContext, backupId: string): Promise<BackupJobResult | undefined> {
  const prior = await ctx.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backupId) });
  if (!prior || !FINAL_STATUSES.has(prior.status)) return undefined;
  if (prior.status !== 'completed' || !(prior.filePath ?? prior.snapshotId) || !prior.sha256 || prior.sizeBytes === null) {
    throw new UnrecoverableError(`backup ${backupId} is already ${prior.status}; records only move forward: retry the job (POST /api/jobs/:id/retry) or enqueue a new backup`);
  }
  ctx.log.info({ filePath: prior.filePath, snapshotId: prior.snapshotId }, 'backup already completed; not repeating it');
  return {
    backupId,
    backupType: prior.backupType,
    engine: prior.engine,
    filePath: prior.filePath,
    snapshotId: prior.snapshotId,
    sizeBytes: prior.sizeBytes,
    sha256: prior.sha256,
    warnings: prior.warnings,
  };
}

/** What both backup job names come down to. */
export interface BackupRequest {
  backupId: string;
  serverId: string;
  options: BackupOptions;
  isScheduled: boolean;
  /** The trigger's or schedule's target ('default' or an id); absent: the server's, then the default. */
  storageTargetId?: string;
}

export async function runBackup(settings: BackupSettings, request: BackupRequest, ctx: BackupContext): Promise<BackupJobResult> {
  const started = Date.now();
  const { backupId, serverId, options, isScheduled } = request;
  await ctx.progress(BackupProgress.STARTED);
  const done = await finishedBefore(ctx, backupId);
  if (done) return done;

  const { server, target } = await ctx.loadServer(serverId);
  const session = await ctx.connect(server, target);
  await ctx.progress(BackupProgress.SERVER_VERIFIED);
  const resolved = await resolveTarget(settings, ctx.db, request.storageTargetId ?? server.storageTargetId);
  if (resolved.engine === 'restic') return runRepositoryBackup(settings, request, ctx, server, session, started, resolved);

  const paths = [...server.backupPaths];
  const storage = resolved.storage;
  // Base chosen and record inserted under cleanup's per-server guard: retention cannot delete the base in between.
  const base: IncrementalBase | undefined = await withServerBackupGuard(ctx.db, server.id, async () => {
    const chosen =
      options.backup_type === 'incremental' && paths.length > 0
        ? await findIncrementalBase(ctx.db, { serverId: server.id, backupId, paths, storageTargetId: resolved.storageTargetId })
        : undefined;
    await ctx.record.start({
      backupType: chosen ? 'incremental' : 'full',
      compression: options.compression,
      encryption: options.encryption,
      isScheduled,
      paths,
      baseBackupId: chosen?.baseBackupId ?? null,
      since: chosen ? new Date(chosen.sinceEpochSeconds * 1000) : null,
    });
    if (resolved.storageTargetId !== null) {
      const open = and(eq(backups.id, backupId), inArray(backups.status, ['pending', 'running']));
      await ctx.db.update(backups).set({ storageTargetId: resolved.storageTargetId }).where(open);
    }
    return chosen;
  });
  const backupType = base ? 'incremental' : 'full';
  await ctx.progress(BackupProgress.RECORD_CREATED);

  // After the record exists, so the failure is written on it.
  if (paths.length === 0) throw new UnrecoverableError(`server ${server.id} has no backup paths configured: nothing to back up`);
  const encryptionKey = options.encryption ? settings.encryptionKey : undefined;
  const warnings: string[] = [];
  if (options.backup_type === 'incremental' && !base) warnings.push('no earlier completed backup of these paths: took a full backup');
  // A full, or an incremental on a base with a snapshot file, uses --listed-incremental; a base made before snapshot
  // files existed falls back to --newer (ctime and mtime; deletions not recorded) and starts no snapshot file chain.
  const baseSnapshot = base?.snapshotFile;
  const listed = !base || (baseSnapshot !== undefined && (await storage.stat(baseSnapshot))?.isObject === true);
  if (base && !listed) {
    warnings.push(`base backup ${base.baseBackupId} has no snapshot file: changes taken with tar --newer (ctime and mtime); deletions since it are not recorded`);
  }
  const removed = await removeAbandonedPartials(storage, server.id, abandonedPartials(ctx, backupId));
  if (removed.length) ctx.log.warn({ removed }, 'removed partial archives left by interrupted attempts');
  const remoteSnapshot = listed ? await makeRemoteTempFile(session, ctx.signal) : undefined;
  try {
    let command: string;
    try {
      command = buildTarCommand({
        paths,
        compression: options.compression,
        newerThanEpochSeconds: listed ? undefined : base?.sinceEpochSeconds,
        snapshotFile: remoteSnapshot,
      });
    } catch (err) {
      throw new UnrecoverableError(`invalid backup path on server ${server.id}: ${(err as Error).message}`);
    }
    if (remoteSnapshot && baseSnapshot) {
      await uploadSnapshotFile({ storage, key: baseSnapshot, encryptionKey: settings.encryptionKey, session, remotePath: remoteSnapshot, signal: ctx.signal });
    }
    return await transferArchive({ storage, ctx, session, server, options, backupId, backupType, paths, command, warnings, started, encryptionKey, remoteSnapshot });
  } finally {
    if (remoteSnapshot) await removeRemoteFile(session, remoteSnapshot);
  }
}

interface ArchiveTransfer {
  /** BACKUP_DIR, or the local folder of a named archive target. */
  storage: BackupStorage;
  ctx: BackupContext;
  session: SshSession;
  server: Server;
  options: BackupOptions;
  backupId: string;
  backupType: 'full' | 'incremental';
  paths: string[];
  command: string;
  warnings: string[];
  started: number;
  encryptionKey: string | undefined;
  /** The server's temp snapshot file tar updates; stored beside the archive once tar succeeded. */
  remoteSnapshot: string | undefined;
}

async function transferArchive(t: ArchiveTransfer): Promise<BackupJobResult> {
  const { storage, ctx, session, server, options, backupId, backupType, paths, command, warnings, started, encryptionKey, remoteSnapshot } = t;
  const remoteStartedAt = await remoteEpochSeconds(session, ctx.signal);
  await ctx.progress(BackupProgress.EXECUTION_STARTED);
  ctx.log.info({ paths, backupType, compression: options.compression, encryption: options.encryption }, 'backup transfer started');

  let writer;
  try {
    writer = await storage.write(archiveKey(server.id, backupId, options), { encryptionKey });
  } catch (err) {
    throw diskFullError(err, storage.description) ?? err;
  }
  let stored: { location: string; sizeBytes: number; sha256: string } | undefined;
  let tarExitCode: number | null;
  try {
    // No limit of its own: the job's run-time limit (catalog timeoutMs / JOB_TIMEOUTS_MS) aborts ctx.signal, which kills the remote tar.
    const streamed = await session.execToStream(command, writer.input, { timeoutMs: 0, signal: ctx.signal });
    tarExitCode = streamed.code;
    const outcome = interpretTarExit(streamed.code, streamed.signal, streamed.stderr);
    if (!outcome.ok) throw outcome.retryable ? new Error(outcome.reason) : new UnrecoverableError(outcome.reason);
    warnings.push(...outcome.warnings);
    // Stored before the archive is committed: a completed archive-engine backup made with a snapshot file always has it.
    if (remoteSnapshot) {
      await storeSnapshotFile({ storage, key: snapshotFileKey(server.id, backupId, options.encryption), encryptionKey, session, remotePath: remoteSnapshot, signal: ctx.signal });
    }
    stored = await writer.commit();
  } catch (err) {
    throw diskFullError(err, storage.description) ?? err;
  } finally {
    // Failed, aborted or timed out: no partial file outlives the attempt.
    if (!stored) await writer.discard();
  }
  for (const warning of warnings) await ctx.output(`warning: ${warning}`);
  await ctx.progress(BackupProgress.COMPLETED);

  const durationMs = Date.now() - started;
  const details: BackupResultDetails = { remoteStartedAt, tarExitCode, ...(remoteSnapshot ? { snapshotFile: snapshotFileKey(server.id, backupId, options.encryption) } : {}) };
  await ctx.record.complete({
    filePath: stored.location,
    sizeBytes: stored.sizeBytes,
    sha256: stored.sha256,
    durationMs,
    warnings,
    result: details,
  });
  await ctx.progress(BackupProgress.RECORD_UPDATED);
  ctx.log.info({ filePath: stored.location, sizeBytes: stored.sizeBytes, durationMs, warnings: warnings.length }, 'backup stored');
  return { backupId, backupType, engine: 'archive', filePath: stored.location, snapshotId: null, sizeBytes: stored.sizeBytes, sha256: stored.sha256, warnings };
}

/**
 * The restic engine: one complete snapshot per backup (an incremental request is stored as a full one, which costs
 * only the changed chunks thanks to deduplication), always encrypted by the repository whatever `encryption` says.
 */
async function runRepositoryBackup(
  settings: BackupSettings,
  request: BackupRequest,
  ctx: BackupContext,
  server: Server,
  session: SshSession,
  started: number,
  target: Extract<ResolvedTarget, { engine: 'restic' }>,
): Promise<BackupJobResult> {
  const { backupId, options, isScheduled } = request;
  const paths = [...server.backupPaths];
  // A snapshot tagged with this backup can only exist if an earlier attempt got as far as the record (started below,
  // before restic runs): without one, the restic call that looks for leftovers is skipped (~1 s per backup).
  const earlierAttempt = (await ctx.db.query.backups.findFirst({ columns: { id: true }, where: (b, { eq: equals }) => equals(b.id, backupId) })) !== undefined;
  await ctx.record.start({
    backupType: 'full',
    compression: options.compression,
    encryption: true,
    isScheduled,
    paths,
    baseBackupId: null,
    since: null,
  });
  const open = and(eq(backups.id, backupId), inArray(backups.status, ['pending', 'running']));
  await ctx.db.update(backups).set({ engine: 'restic', storageTargetId: target.storageTargetId }).where(open);
  await ctx.progress(BackupProgress.RECORD_CREATED);

  if (paths.length === 0) throw new UnrecoverableError(`server ${server.id} has no backup paths configured: nothing to back up`);
  let command: string;
  try {
    command = buildTarCommand({ paths, compression: false });
  } catch (err) {
    throw new UnrecoverableError(`invalid backup path on server ${server.id}: ${(err as Error).message}`);
  }
  const warnings: string[] = [];
  if (options.backup_type === 'incremental') warnings.push('repository backups are always complete snapshots (stored incrementally by deduplication): took a full snapshot');
  if (!options.encryption) warnings.push('repository backups are always encrypted at rest (restic): stored encrypted');

  const repo = await openRepository(settings, target.repository);
  try {
    // A snapshot carrying this backup's tag while its record is not completed is from an attempt that never finished
    // (a worker killed between restic's save and the record): not ours to keep, the record would never point at it.
    const leftovers = earlierAttempt ? await repo.snapshots({ tags: [backupTag(backupId)] }) : [];
    if (leftovers.length) {
      await repo.forgetIds(leftovers.map((s) => s.id));
      ctx.log.warn({ snapshots: leftovers.map((s) => s.id) }, 'forgot snapshots of an interrupted attempt of this backup');
    }
    const remoteStartedAt = await remoteEpochSeconds(session, ctx.signal);
    await ctx.progress(BackupProgress.EXECUTION_STARTED);
    ctx.log.info({ paths, repository: repo.repository, compression: options.compression }, 'backup transfer started');
    // The tar's size is unknown up front: progress creeps towards COMPLETED on a log scale of bytes read.
    const progress = createProgressMapper(ctx, 1, BackupProgress.EXECUTION_STARTED, BackupProgress.COMPLETED);
    const stored = await storeSnapshot(
      repo,
      { backupId, serverId: server.id, serverName: server.name, command, compression: options.compression, signal: ctx.signal, onBytes: (b) => progress.report(1 - 1 / (1 + b / 1e9)) },
      session,
      new FileListingWriter(ctx.db, backupId),
    ).catch((err: unknown) => {
      throw jobError(err);
    });
    await progress.settled();
    warnings.push(...stored.warnings);
    for (const warning of warnings) await ctx.output(`warning: ${warning}`);
    await ctx.progress(BackupProgress.COMPLETED);

    const durationMs = Date.now() - started;
    await ctx.db
      .update(backups)
      .set({ snapshotId: stored.snapshotId, bytesRead: stored.bytesRead, bytesAdded: stored.bytesAdded, filesCount: stored.filesCount })
      .where(open);
    await ctx.record.complete({
      filePath: null,
      sizeBytes: stored.bytesRead,
      sha256: stored.sha256,
      durationMs,
      warnings,
      result: { remoteStartedAt, tarExitCode: 0, snapshotId: stored.snapshotId, bytesAdded: stored.bytesAdded },
    });
    await ctx.progress(BackupProgress.RECORD_UPDATED);
    ctx.log.info({ snapshotId: stored.snapshotId, bytesRead: stored.bytesRead, bytesAdded: stored.bytesAdded, files: stored.filesCount, durationMs }, 'backup stored');
    return { backupId, backupType: 'full', engine: 'restic', filePath: null, snapshotId: stored.snapshotId, sizeBytes: stored.bytesRead, sha256: stored.sha256, warnings };
  } finally {
    await repo.close();
  }
}
