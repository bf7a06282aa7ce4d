import { createHash, type Hash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { UnrecoverableError } from 'bullmq';
import { backupTag, serverTag, snapshotFileName, type ResticRepository } from '@mm/restic';
import type { SshSession } from '@mm/ssh';
import { interpretTarExit } from '../tar-command.js';
import { TarListing } from '../tar-listing.js';
import type { FileListingWriter } from './file-listing.js';

export interface SnapshotRequest {
  backupId: string;
  serverId: string;
  serverName: string;
  /** The remote tar command (uncompressed: restic compresses and deduplicates; gzip would defeat both). */
  command: string;
  compression: boolean;
  signal: AbortSignal | undefined;
  onBytes: (bytes: number) => void;
}

export interface StoredSnapshot {
  snapshotId: string;
  bytesRead: number;
  bytesAdded: number;
  filesCount: number;
  sha256: string;
  warnings: string[];
}

/**
 * Streams the server's tar over SSH into `restic backup --stdin`, hashing it and reading its headers for the file
 * listing as it passes. restic's stdin is ended only once tar exited successfully: a tar that fails (or an SSH
 * connection that drops) makes us interrupt restic instead, so no snapshot of a truncated tar is ever saved.
 */
export async function storeSnapshot(repo: ResticRepository, request: SnapshotRequest, session: SshSession, listing: FileListingWriter): Promise<StoredSnapshot> {
  let hash: Hash = createHash('sha256');
  let bytes = 0;
  let files = 0;
  let warnings: string[] = [];
  let tarDone: Promise<void> = Promise.resolve();
  let tarFailure: Error | undefined;
  const stop = new AbortController();
  const signal = request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal;

  const summary = await repo.backupStdin({
    filename: snapshotFileName(request.backupId),
    host: request.serverName,
    tags: [serverTag(request.serverId), backupTag(request.backupId)],
    compression: request.compression,
    signal,
    onProgress: () => undefined,
    source: async () => {
      // A new attempt after a lock conflict starts over: fresh hash, fresh listing, a new remote tar.
      await tarDone;
      await listing.clear();
      hash = createHash('sha256');
      bytes = 0;
      files = 0;
      const parser = new TarListing((entry) => {
        files++;
        listing.add(entry);
      });
      const out = new PassThrough({ highWaterMark: 1024 * 1024 });
      let pending: ((err?: Error) => void) | undefined;
      out.on('drain', () => {
        const cb = pending;
        pending = undefined;
        cb?.();
      });
      out.once('close', () => {
        const cb = pending;
        pending = undefined;
        cb?.(new Error('restic stopped reading the backup stream'));
      });
      // A gate, not a pipe: SSH ending our input must not end restic's before tar's exit status is known.
      const gate = new Writable({
        highWaterMark: 1024 * 1024,
        write(chunk: Buffer, _encoding, callback) {
          if (out.destroyed) return callback(new Error('restic stopped reading the backup stream'));
          hash.update(chunk);
          parser.push(chunk);
          bytes += chunk.length;
          request.onBytes(bytes);
          if (out.write(chunk)) callback();
          else pending = callback;
        },
        final(callback) {
          callback();
        },
      });
      tarDone = session.execToStream(request.command, gate, { timeoutMs: 0, signal: request.signal }).then(
        (streamed) => {
          const outcome = interpretTarExit(streamed.code, streamed.signal, streamed.stderr);
          if (!outcome.ok) {
            tarFailure = outcome.retryable ? new Error(outcome.reason) : new UnrecoverableError(outcome.reason);
            stop.abort(tarFailure);
            return;
          }
          warnings = outcome.warnings;
          out.end();
        },
        (err: unknown) => {
          tarFailure = err as Error;
          stop.abort(tarFailure);
        },
      );
      return out;
    },
  }).catch(async (err: unknown) => {
    await tarDone;
    throw tarFailure ?? err;
  });
  await tarDone;
  if (tarFailure) throw tarFailure;
  await listing.finish();
  if (summary.bytesRead !== bytes) {
    throw new Error(`restic stored ${summary.bytesRead} bytes of a ${bytes}-byte tar stream (snapshot ${summary.snapshotId}); retrying`);
  }
  return { snapshotId: summary.snapshotId, bytesRead: summary.bytesRead, bytesAdded: summary.bytesAdded, filesCount: files, sha256: hash.digest('hex'), warnings };
}
