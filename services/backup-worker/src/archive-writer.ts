import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackupEncryptStream } from './backup-cipher.js';

export interface StoredArchive {
  path: string;
  sizeBytes: number;
  /** Hex sha256 of the stored bytes (after encryption, when encrypted). */
  sha256: string;
}

export interface ArchiveWriterOptions {
  /** Final path; the bytes go to `<path>.partial` until `commit()`. */
  path: string;
  /** BACKUP_ENCRYPTION_KEY (hex) when the stored file is to be encrypted. */
  encryptionKey?: string;
}

export const PARTIAL_SUFFIX = '.partial';
const WRITE_BATCH_BYTES = 1024 * 1024;

async function fsyncPath(path: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * One archive being written: `input` takes the raw tar stream (with backpressure all the way to the
 * file), encrypting and hashing on the way, so memory stays flat whatever the archive size.
 * Exactly one of `commit()` / `discard()` ends it.
 */
export class ArchiveWriter {
  readonly input: Writable;
  readonly partialPath: string;
  private readonly written: Promise<void>;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private committed = false;

  constructor(private readonly options: ArchiveWriterOptions) {
    this.partialPath = `${options.path}${PARTIAL_SUFFIX}`;
    // 0600: a backup holds whatever the server holds.
    const file = createWriteStream(this.partialPath, { mode: 0o600, highWaterMark: WRITE_BATCH_BYTES });
    // SSH delivers ~32 KiB packets. While one fs write is in flight, fs.WriteStream buffers what follows (up to
    // WRITE_BATCH_BYTES before backpressure reaches the SSH channel) and writes it all in one writev: far fewer
    // calls than one write per packet, with no copy. (Manual cork/uncork batching could stall: a corked stream
    // that fills its buffer never drains.)
    const tap = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        callback(null, chunk);
      },
    });
    const cipher = options.encryptionKey ? createBackupEncryptStream(options.encryptionKey) : undefined;
    this.input = cipher ?? tap;
    this.written = cipher ? pipeline(cipher, tap, file) : pipeline(tap, file);
    // Observed through commit()/discard(); without this an early failure would be an unhandled rejection.
    this.written.catch(() => {});
  }

  /** Waits for the input to end and the file to be flushed, makes it durable, and moves it to its final name. */
  async commit(): Promise<StoredArchive> {
    await this.written;
    await fsyncPath(this.partialPath, 'r');
    await rename(this.partialPath, this.options.path);
    this.committed = true;
    // The rename itself is durable only once the folder is synced.
    await fsyncPath(dirname(this.options.path), 'r');
    return { path: this.options.path, sizeBytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Stops writing and deletes the partial file. Safe after a failed commit and safe twice. */
  async discard(): Promise<void> {
    if (this.committed) return;
    if (!this.input.destroyed) this.input.destroy(new Error('archive discarded'));
    await this.written.catch(() => {});
    await rm(this.partialPath, { force: true });
  }
}
