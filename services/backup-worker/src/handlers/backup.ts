import { UnrecoverableError } from 'bullmq';
import { BackupProgress, type BackupOptions, type BackupPayload, type CleanupPayload, type Handlers, type RestorePayload, type ScheduledBackupPayload, type VerifyPayload } from '@mm/jobs';
import type { SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';
import { prepareArchivePath, removeAbandonedPartials } from '../archive-store.js';
import { ArchiveWriter, type StoredArchive } from '../archive-writer.js';
import { findIncrementalBase, type BackupResultDetails, type IncrementalBase } from '../incremental-base.js';
import { diskFullError } from '../storage-error.js';
import { buildTarCommand, interpretTarExit } from '../tar-command.js';
import { runCleanup, type CleanupSettings } from './cleanup.js';
import { runRestore } from './restore.js';
import { runVerify } from './verify.js';

export interface BackupSettings {
  /** Absolute BACKUP_DIR. */
  backupDir: string;
  /** BACKUP_ENCRYPTION_KEY, hex. */
  encryptionKey: string;
}

/** What the job returns (kept in Redis with the finished job): locations and digests only. */
export interface BackupJobResult {
  backupId: string;
  backupType: 'full' | 'incremental';
  filePath: string;
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
 * BullMQ marking the job done, or a finished job retried by hand. Records only move forward, so a completed
 * backup is reported as it is (never overwritten: its file must keep matching its sha256) and a failed or
 * cancelled one stays as it is.
 */
async function finishedBefore(ctx: BackupContext, backupId: string): Promise<BackupJobResult | undefined> {
  const prior = await ctx.db.query.backups.findFirst({ where: (b, { eq }) => eq(b.id, backupId) });
  if (!prior || !FINAL_STATUSES.has(prior.status)) return undefined;
  if (prior.status !== 'completed' || !prior.filePath || !prior.sha256 || prior.sizeBytes === null) {
    throw new UnrecoverableError(`backup ${backupId} is already ${prior.status}; records only move forward, so enqueue a new backup`);
  }
  ctx.log.info({ filePath: prior.filePath }, 'backup already completed; not repeating it');
  return {
    backupId,
    backupType: prior.backupType,
    filePath: prior.filePath,
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

  const paths = [...server.backupPaths];
  const base: IncrementalBase | undefined =
    options.backup_type === 'incremental' && paths.length > 0 ? await findIncrementalBase(ctx.db, server.id, backupId, paths) : undefined;
  const backupType = base ? 'incremental' : 'full';
  await ctx.record.start({
    backupType,
    compression: options.compression,
    encryption: options.encryption,
    isScheduled,
    paths,
    baseBackupId: base?.baseBackupId ?? null,
    since: base ? new Date(base.sinceEpochSeconds * 1000) : null,
  });
  await ctx.progress(BackupProgress.RECORD_CREATED);

  // After the record exists, so the failure is written on it.
  if (paths.length === 0) throw new UnrecoverableError(`server ${server.id} has no backup paths configured: nothing to back up`);
  let command: string;
  try {
    command = buildTarCommand({ paths, compression: options.compression, newerThanEpochSeconds: base?.sinceEpochSeconds });
  } catch (err) {
    throw new UnrecoverableError(`invalid backup path on server ${server.id}: ${(err as Error).message}`);
  }
  const warnings: string[] = [];
  if (options.backup_type === 'incremental' && !base) warnings.push('no earlier completed backup of these paths: took a full backup');

  const path = await prepareArchivePath(settings.backupDir, server.id, backupId, options);
  const removed = await removeAbandonedPartials(settings.backupDir, server.id, abandonedPartials(ctx, backupId));
  if (removed.length) ctx.log.warn({ removed }, 'removed partial archives left by interrupted attempts');

  const remoteStartedAt = await remoteEpochSeconds(session, ctx.signal);
  await ctx.progress(BackupProgress.EXECUTION_STARTED);
  ctx.log.info({ paths, backupType, compression: options.compression, encryption: options.encryption }, 'backup transfer started');

  const writer = new ArchiveWriter({ path, encryptionKey: options.encryption ? settings.encryptionKey : undefined });
  let stored: StoredArchive | undefined;
  let tarExitCode: number | null;
  try {
    // No limit of its own: the job's run-time limit (catalog timeoutMs / JOB_TIMEOUTS_MS) aborts ctx.signal, which kills the remote tar.
    const streamed = await session.execToStream(command, writer.input, { timeoutMs: 0, signal: ctx.signal });
    tarExitCode = streamed.code;
    const outcome = interpretTarExit(streamed.code, streamed.signal, streamed.stderr);
    if (!outcome.ok) throw outcome.retryable ? new Error(outcome.reason) : new UnrecoverableError(outcome.reason);
    warnings.push(...outcome.warnings);
    stored = await writer.commit();
  } catch (err) {
    throw diskFullError(err, settings.backupDir) ?? err;
  } finally {
    // Failed, aborted or timed out: no partial file outlives the attempt.
    if (!stored) await writer.discard();
  }
  for (const warning of warnings) await ctx.output(`warning: ${warning}`);
  await ctx.progress(BackupProgress.COMPLETED);

  const durationMs = Date.now() - started;
  const details: BackupResultDetails = { remoteStartedAt, tarExitCode };
  await ctx.record.complete({
    filePath: stored.path,
    sizeBytes: stored.sizeBytes,
    sha256: stored.sha256,
    durationMs,
    warnings,
    result: details,
  });
  await ctx.progress(BackupProgress.RECORD_UPDATED);
  ctx.log.info({ filePath: stored.path, sizeBytes: stored.sizeBytes, durationMs, warnings: warnings.length }, 'backup stored');
  return { backupId, backupType, filePath: stored.path, sizeBytes: stored.sizeBytes, sha256: stored.sha256, warnings };
}

/** A scheduled backup's record id comes from its scheduler-made job id (ctx.recordId); otherwise both run alike. */
export function backupHandlers(settings: BackupSettings & CleanupSettings): Handlers<'backup', BackupContext> {
  return {
    'backup:manual': (payload: BackupPayload, ctx) => runBackup(settings, payload, ctx),
    'backup:scheduled': (payload: ScheduledBackupPayload, ctx) =>
      runBackup(settings, { backupId: ctx.recordId, serverId: payload.serverId, options: payload.options, isScheduled: true }, ctx),
    'backup:verify': (payload: VerifyPayload, ctx) => runVerify(settings, payload, ctx),
    'backup:restore': (payload: RestorePayload, ctx) => runRestore(settings, payload, ctx),
    'backup:cleanup': (payload: CleanupPayload, ctx) => runCleanup(settings, payload, ctx),
  };
}
