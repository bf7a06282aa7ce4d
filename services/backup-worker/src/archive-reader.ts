import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackupDecryptStream } from './backup-cipher.js';
import type { BackupStorage } from './storage/backup-storage.js';

/** What a stored archive must match: the backup record's file, size and digest. */
export interface StoredArchiveRef {
  filePath: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  encryption: boolean;
  compression: boolean;
}

/** A stored file that is missing, outside BACKUP_DIR, or differs from its record: never retried. */
export class ArchiveIntegrityError extends Error {
  override name = 'ArchiveIntegrityError';
}

/** The record's file as a key of `storage` (defence in depth against a forged or stale record pointing elsewhere). */
export function archiveKeyIn(storage: BackupStorage, filePath: string | null): string {
  if (!filePath) throw new ArchiveIntegrityError('the backup record has no stored file');
  const key = storage.keyOf(filePath);
  if (!key) throw new ArchiveIntegrityError(`the stored file ${filePath} is outside BACKUP_DIR`);
  return key;
}

/** Checks that the object exists with the recorded size; returns its key. */
export async function checkStoredFile(storage: BackupStorage, ref: StoredArchiveRef): Promise<string> {
  const key = archiveKeyIn(storage, ref.filePath);
  const path = ref.filePath;
  if (!ref.sha256 || ref.sizeBytes === null) throw new ArchiveIntegrityError('the backup record has no size or sha256');
  const info = await storage.stat(key);
  if (!info) throw new ArchiveIntegrityError(`the stored file ${path} no longer exists`);
  if (!info.isObject) throw new ArchiveIntegrityError(`the stored file ${path} is not a regular file`);
  if (info.sizeBytes !== ref.sizeBytes) throw new ArchiveIntegrityError(`the stored file ${path} is ${info.sizeBytes} bytes; its record says ${ref.sizeBytes}`);
  return key;
}

/**
 * One pass over a stored file: hashes the stored bytes, counts them for progress, and yields the readable tar
 * (or tar.gz) bytes — decrypted when encrypted. `digest()` is valid once the stream has ended.
 */
export class StoredArchiveStream {
  private readonly hash = createHash('sha256');
  bytesRead = 0;
  readonly source: Readable;
  readonly stages: Transform[];

  constructor(storage: BackupStorage, key: string, ref: StoredArchiveRef, encryptionKey: string, onBytes?: (bytesRead: number) => void) {
    this.source = storage.read(key);
    const tap = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.hash.update(chunk);
        this.bytesRead += chunk.length;
        onBytes?.(this.bytesRead);
        callback(null, chunk);
      },
    });
    this.stages = ref.encryption ? [tap, createBackupDecryptStream(encryptionKey)] : [tap];
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Hashes a whole file (restore checks a chain before extracting anything). */
export async function sha256Of(storage: BackupStorage, key: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    storage.read(key),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        onBytes?.(bytes);
        callback();
      },
    }),
  );
  return hash.digest('hex');
}

export interface ArchiveCheck {
  status: 'passed' | 'failed';
  /** Every reason found, most important first: digest, then decryption, then the tar listing. */
  error: string | null;
  /** Members `tar -t` listed (files, folders, links); null when the listing did not run to the end. */
  entries: number | null;
  sha256: string | null;
  sizeBytes: number;
}

const MAX_STDERR_CHARS = 2_000;

/**
 * A sink feeding `tar`'s stdin with backpressure that keeps consuming after tar stops reading (EPIPE after
 * the end-of-archive blocks, or a failure it reports itself), so the whole file is still hashed and decrypted.
 */
function childStdinSink(stdin: Writable): Writable {
  let gone = false;
  stdin.on('error', () => {
    gone = true;
  });
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (gone || stdin.destroyed) return callback();
      if (stdin.write(chunk)) return callback();
      const resume = () => {
        stdin.off('drain', resume);
        stdin.off('close', resume);
        callback();
      };
      stdin.once('drain', resume);
      stdin.once('close', resume);
    },
    final(callback) {
      if (!gone && !stdin.destroyed) stdin.end();
      callback();
    },
  });
}

/**
 * Re-reads a stored archive in constant memory: sha256 of the stored bytes against the record, authenticated
 * decryption of every chunk (when encrypted: a flipped byte or truncation fails its GCM tag), and a full
 * `tar -t` listing (through gzip when compressed). A problem is an outcome ('failed' with the reason), not a throw.
 */
export async function checkArchive(
  storage: BackupStorage,
  ref: StoredArchiveRef,
  encryptionKey: string,
  opts: { signal?: AbortSignal; onBytes?: (bytesRead: number) => void },
): Promise<ArchiveCheck> {
  let key: string;
  try {
    key = await checkStoredFile(storage, ref);
  } catch (err) {
    if (!(err instanceof ArchiveIntegrityError)) throw err;
    return { status: 'failed', error: err.message, entries: null, sha256: null, sizeBytes: 0 };
  }
  const stream = new StoredArchiveStream(storage, key, ref, encryptionKey, opts.onBytes);
  const tar = spawn('tar', ['-t', ...(ref.compression ? ['-z'] : []), '-f', '-'], {
    env: { LC_ALL: 'C', PATH: '/usr/bin:/bin:/usr/sbin:/sbin' },
    stdio: ['pipe', 'pipe', 'pipe'],
    signal: opts.signal,
  });
  let lines = 0;
  let stderr = '';
  tar.stdout.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) lines++;
  });
  tar.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_STDERR_CHARS) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit, rejectExit) => {
    tar.once('error', rejectExit);
    tar.once('close', (code, signal) => resolveExit({ code, signal }));
  });
  // Awaited after the read below; a spawn failure (no tar) must not count as unhandled meanwhile.
  exited.catch(() => undefined);

  let readError: Error | undefined;
  try {
    await pipeline([stream.source, ...stream.stages, childStdinSink(tar.stdin)], { signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    readError = err as Error;
    tar.stdin.destroy();
  }
  const { code, signal } = await exited;
  if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');

  const reasons: string[] = [];
  // Only a stream that reached its end has a digest of the whole file.
  const sha256 = readError ? null : stream.digest();
  if (sha256 !== null && sha256 !== ref.sha256) reasons.push(`sha256 mismatch: stored file hashes to ${sha256}, its record says ${ref.sha256}`);
  if (readError) reasons.push(readError.name === 'BackupDecryptionError' ? readError.message : `reading the stored file failed: ${readError.message}`);
  const listed = code === 0 && !readError;
  if (!readError && code !== 0) {
    const detail = stderr.trim().split('\n').filter((l) => l !== '' && !/Exiting with failure status/.test(l)).join('; ');
    reasons.push(`tar listing ${code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with status ${code}`}${detail ? `: ${detail}` : ''}`);
  }
  return {
    status: reasons.length === 0 ? 'passed' : 'failed',
    error: reasons.length === 0 ? null : reasons.join('; ').slice(0, MAX_STDERR_CHARS),
    entries: listed ? lines : null,
    sha256,
    sizeBytes: stream.bytesRead,
  };
}
