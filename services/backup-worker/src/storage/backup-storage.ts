import type { Readable, Writable } from 'node:stream';

/** An object being written: `input` takes the bytes; exactly one of commit()/discard() ends it. */
export interface ObjectWrite {
  readonly input: Writable;
  /** Makes the object visible under its key (durably); returns where it lives, its size and sha256 as stored. */
  commit(): Promise<{ location: string; sizeBytes: number; sha256: string }>;
  /** Drops what was written. Safe after a failed commit and safe twice. */
  discard(): Promise<void>;
}

/**
 * Where archive-engine backups are kept: keys like `<server id>/<backup id>.tar.gz.enc`. The archive handlers use only
 * this interface; the local folder (BACKUP_DIR) is the first implementation. Repository backups (restic) are not
 * objects here: restic owns its repository layout (src/restic/).
 */
export interface BackupStorage {
  /** For messages: "/srv/backups". */
  readonly description: string;
  write(key: string, opts?: { encryptionKey?: string }): Promise<ObjectWrite>;
  read(key: string): Readable;
  /** undefined when there is no such object. */
  stat(key: string): Promise<{ sizeBytes: number; isObject: boolean } | undefined>;
  /** Removes an object; one that is already gone is fine. */
  delete(key: string): Promise<void>;
  /** Keys directly under `prefix` (e.g. `<server id>/`), including objects still being written (`.partial`). */
  list(prefix: string): Promise<string[]>;
  /** The key of a location recorded in backups.file_path; undefined when it is not inside this storage. */
  keyOf(location: string): string | undefined;
}
