import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UnrecoverableError } from 'bullmq';
import { and, eq, inArray } from 'drizzle-orm';
import { restores, type Backup } from '@mm/db';
import type { RestorePayload } from '@mm/jobs';
import { assertRemotePath, type SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';
import { ArchiveIntegrityError, checkStoredFile, sha256Of, StoredArchiveStream } from '../archive-reader.js';
import { resolveRestoreChain } from '../restore-chain.js';
import { extractCommand, lineCounter, makeTarget, memberOf, subsetExit } from '../remote-extract.js';
import { restoreSnapshot } from '../restic/restore-snapshot.js';
import { RestoreProgress, type RestoreJobResult } from '../restore-result.js';
import { interpretTarExit } from '../tar-command.js';
import { createProgressMapper } from '../transfer-progress.js';
import { archiveStorageOfRecord } from '../restic/resolve-target.js';
import type { BackupSettings } from '../settings.js';
import type { BackupStorage } from '../storage/backup-storage.js';

type BackupContext = JobContext<'backup'>;

/**
 * Records only move forward: a finished restore run again reports what it did (or refuses), never extracts twice.
 * A failed restore retried through POST /api/jobs/:id/retry finds its record reopened (pending) and runs again.
 */
async function finishedBefore(ctx: BackupContext, restoreId: string): Promise<RestoreJobResult | undefined> {
  const prior = await ctx.db.query.restores.findFirst({ where: (r, { eq: equals }) => equals(r.id, restoreId) });
  if (!prior || prior.status === 'pending' || prior.status === 'running') return undefined;
  if (prior.status !== 'completed') throw new UnrecoverableError(`restore ${restoreId} is already ${prior.status}; enqueue a new restore`);
  ctx.log.info({ restoreId }, 'restore already completed; not repeating it');
  return prior.result as RestoreJobResult;
}

/**
 * Every archive of the chain is read and hashed locally BEFORE anything is sent, so a tampered or truncated
 * file stops the restore with nothing extracted. The bytes are hashed again while streaming; a file changed in
 * between fails the transfer before tar sees the end of its input.
 */
async function checkChainFiles(settings: BackupSettings, ctx: BackupContext, chain: Backup[]): Promise<Map<string, StoredArchive>> {
  const paths = new Map<string, StoredArchive>();
  for (const backup of chain) {
    const storage = await archiveStorageOfRecord(settings, ctx.db, backup.storageTargetId);
    try {
      const path = await checkStoredFile(storage, backup);
      const digest = await sha256Of(storage, path);
      if (digest !== backup.sha256) throw new ArchiveIntegrityError(`the stored file ${path} hashes to ${digest}; its record says ${backup.sha256}`);
      if (backup.encryption && !settings.encryptionKey) throw new ArchiveIntegrityError('BACKUP_ENCRYPTION_KEY is not set');
      paths.set(backup.id, { storage, path });
    } catch (err) {
      if (err instanceof ArchiveIntegrityError) throw new UnrecoverableError(`backup ${backup.id} cannot be restored: ${err.message}; nothing was extracted`);
      throw err;
    }
  }
  return paths;
}

interface StoredArchive {
  storage: BackupStorage;
  path: string;
}

interface SentArchive {
  bytes: number;
  entries: number;
  warnings: string[];
  /** A subset restore: the members this archive did not hold. */
  notFound: string[];
}

async function sendArchive(
  settings: BackupSettings,
  session: SshSession,
  ctx: BackupContext,
  backup: Backup,
  { storage, path }: StoredArchive,
  targetPath: string,
  paths: string[] | undefined,
  onBytes: (bytesRead: number) => void,
): Promise<SentArchive> {
  const stream = new StoredArchiveStream(storage, path, backup, settings.encryptionKey, onBytes);
  let sent = 0;
  // Last stage: ends the remote tar's input only once the whole stored file matched its digest.
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const digest = stream.digest();
      callback(digest === backup.sha256 ? null : new ArchiveIntegrityError(`the stored file ${path} changed while being restored (sha256 ${digest})`));
    },
  });
  // Damage found on the local side (a failed GCM tag, a digest mismatch) is the reason, not the SSH write it broke.
  let damage: Error | undefined;
  const noteDamage = (err: Error) => {
    if (!damage && (err instanceof ArchiveIntegrityError || err.name === 'BackupDecryptionError')) damage = err;
  };
  for (const stage of [...stream.stages, guard]) stage.on('error', noteDamage);
  let feedError: Error | undefined;
  const feeding = pipeline([stream.source, ...stream.stages, guard]).catch((err: unknown) => {
    feedError = err as Error;
    noteDamage(err as Error);
  });
  const counter = lineCounter();
  let streamed;
  try {
    const listed = backup.backupType === 'incremental' && typeof (backup.result as { snapshotFile?: unknown } | null)?.snapshotFile === 'string';
    streamed = await session.execToStream(extractCommand(targetPath, backup.compression, listed, paths), counter.sink, {
      stdin: guard,
      signal: ctx.signal,
      // The job's run-time limit (catalog timeoutMs / JOB_TIMEOUTS_MS) aborts ctx.signal; no second limit here.
      timeoutMs: 0,
    });
  } catch (err) {
    // Unblocks the local pipeline when the channel never consumed it.
    stream.source.destroy();
    await feeding;
    if (damage) throw new UnrecoverableError(`backup ${backup.id} could not be restored: ${damage.message}`);
    throw err;
  }
  await feeding;
  if (feedError) throw damage ? new UnrecoverableError(`backup ${backup.id} could not be restored: ${damage.message}`) : feedError;
  // One level of a chain may lack a member of the subset (unchanged since the full): checked over the whole chain.
  const exit = paths ? subsetExit(streamed.code, streamed.stderr) : { code: streamed.code, stderr: streamed.stderr, notFound: [] };
  const outcome = interpretTarExit(exit.code, streamed.signal, exit.stderr);
  if (!outcome.ok) throw outcome.retryable ? new Error(`extracting backup ${backup.id}: ${outcome.reason}`) : new UnrecoverableError(`extracting backup ${backup.id}: ${outcome.reason}`);
  return { bytes: sent, entries: counter.count(), warnings: outcome.warnings, notFound: exit.notFound };
}

export async function runRestore(settings: BackupSettings, payload: RestorePayload, ctx: BackupContext): Promise<RestoreJobResult> {
  const { restoreId, backupId, serverId } = payload;
  const paths = payload.paths?.length ? payload.paths : undefined;
  await ctx.progress(RestoreProgress.STARTED);
  const done = await finishedBefore(ctx, restoreId);
  if (done) return done;

  let targetPath: string;
  try {
    targetPath = assertRemotePath(payload.targetPath);
  } catch (err) {
    throw new UnrecoverableError(`invalid restore target: ${(err as Error).message}`);
  }
  // Bad members fail here, before the server is touched (memberOf throws an UnrecoverableError naming the path).
  const members = paths?.map((p) => memberOf(p));
  const asked = await ctx.db.query.backups.findFirst({ where: (b, { eq: equals }) => equals(b.id, backupId) });
  if (asked?.engine === 'restic') return restoreSnapshot(settings, { ...payload, targetPath, paths }, asked, ctx);
  const chain = await resolveRestoreChain(ctx.db, backupId);
  const { server, target } = await ctx.loadServer(serverId);
  const session = await ctx.connect(server, target);
  await ctx.progress(RestoreProgress.SERVER_VERIFIED);

  await ctx.record.start();
  const chainIds = chain.map((b) => b.id);
  const open = and(eq(restores.id, restoreId), inArray(restores.status, ['pending', 'running']));
  await ctx.db.update(restores).set({ chain: chainIds, updatedAt: new Date() }).where(open);
  await ctx.progress(RestoreProgress.RECORD_CREATED);

  const stored = await checkChainFiles(settings, ctx, chain);
  await ctx.progress(RestoreProgress.CHAIN_VERIFIED);
  ctx.log.info({ backupId, chain: chainIds, targetPath }, 'restore transfer started');

  await makeTarget(session, ctx, targetPath);
  const totalBytes = chain.reduce((sum, b) => sum + (b.sizeBytes ?? 0), 0);
  const progress = createProgressMapper(ctx, totalBytes, RestoreProgress.CHAIN_VERIFIED, RestoreProgress.TRANSFERRED);
  let before = 0;
  let bytes = 0;
  let entries = 0;
  const warnings: string[] = [];
  const missingEverywhere = new Set(members);
  for (const backup of chain) {
    const offset = before;
    const sent = await sendArchive(settings, session, ctx, backup, stored.get(backup.id) as StoredArchive, targetPath, paths, (read) => progress.report(offset + read));
    const lacking = new Set(sent.notFound);
    for (const member of missingEverywhere) if (!lacking.has(member)) missingEverywhere.delete(member);
    before += backup.sizeBytes ?? 0;
    bytes += sent.bytes;
    entries += sent.entries;
    for (const warning of sent.warnings) {
      warnings.push(warning);
      await ctx.output(`warning (backup ${backup.id}): ${warning}`);
    }
    ctx.log.info({ backupId: backup.id, bytes: sent.bytes, entries: sent.entries }, 'archive extracted');
  }
  await progress.settled();
  if (missingEverywhere.size) {
    throw new UnrecoverableError(`not in backup ${backupId} or its chain: ${[...missingEverywhere].map((m) => `/${m}`).join(', ')}; the other paths were extracted`);
  }
  await ctx.progress(RestoreProgress.TRANSFERRED);

  const result: RestoreJobResult = { restoreId, backupId, serverId, targetPath, paths: paths ?? null, chain: chainIds, bytes, entries, warnings };
  await ctx.db.update(restores).set({ bytes, updatedAt: new Date() }).where(open);
  await ctx.record.complete({ result });
  await ctx.progress(RestoreProgress.RECORD_UPDATED);
  ctx.log.info({ backupId, targetPath, bytes, entries, archives: chain.length }, 'restore completed');
  return result;
}
