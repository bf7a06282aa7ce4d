import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveWriter } from '../archive-writer.js';
import type { BackupStorage, ObjectWrite } from './backup-storage.js';

/** BACKUP_DIR as a BackupStorage: key `a/b.tar` is the file `<dir>/a/b.tar` (folders 0700, files 0600). */
export class LocalDirectoryStorage implements BackupStorage {
  readonly description: string;

  constructor(private readonly dir: string) {
    this.description = dir;
  }

  async write(key: string, opts: { encryptionKey?: string } = {}): Promise<ObjectWrite> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const writer = new ArchiveWriter({ path, encryptionKey: opts.encryptionKey });
    return {
      input: writer.input,
      commit: async () => {
        const stored = await writer.commit();
        return { location: stored.path, sizeBytes: stored.sizeBytes, sha256: stored.sha256 };
      },
      discard: () => writer.discard(),
    };
  }

  read(key: string): Readable {
    return createReadStream(this.pathOf(key), { highWaterMark: 256 * 1024 });
  }

  async stat(key: string): Promise<{ sizeBytes: number; isObject: boolean } | undefined> {
    const info = await stat(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    return info && { sizeBytes: info.size, isObject: info.isFile() };
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const names = await readdir(this.pathOf(prefix)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    return names.map((name) => `${prefix.replace(/\/*$/, '/')}${name}`);
  }

  keyOf(location: string): string | undefined {
    const rel = relative(this.dir, resolve(this.dir, location));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
    return rel.split(sep).join('/');
  }

  /** Keys never leave the folder: `..`, absolute keys and empty segments are refused. */
  private pathOf(key: string): string {
    const parts = key.replace(/\/+$/, '').split('/');
    if (key === '' || parts.some((p) => p === '' || p === '.' || p === '..')) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    return join(this.dir, ...parts);
  }
}
