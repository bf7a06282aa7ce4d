import { sql } from 'drizzle-orm';
import { backupFiles, type Db } from '@mm/db';
import type { TarEntry } from '../tar-listing.js';

const BATCH = 1_000;

/**
 * The listing of one backup, written in batches while the tar passes (memory stays flat for a million files).
 * A retry of the same backup starts by clearing what an earlier attempt wrote; the same path twice in one tar
 * (a file added twice by overlapping backup paths) keeps the last. Folders above the backed-up paths are not
 * members of the tar (`tar -C / -cf - tmp/x/app` starts at `tmp/x/app`), so each missing ancestor is listed as a
 * folder once: browsing from the top then reaches the data.
 */
export class FileListingWriter {
  private batch: TarEntry[] = [];
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown;
  /** Folders listed so far (a member or a synthesised ancestor): one entry per folder, not per file. */
  private readonly folders = new Set<string>();

  constructor(private readonly db: Db, private readonly backupId: string) {}

  async clear(): Promise<void> {
    await this.db.delete(backupFiles).where(sql`${backupFiles.backupId} = ${this.backupId}`);
  }

  add(entry: TarEntry): void {
    this.addAncestors(entry.parent);
    if (entry.type === 'dir') this.folders.add(entry.path);
    this.batch.push(entry);
    if (this.batch.length >= BATCH) this.flushBatch();
  }

  private addAncestors(parent: string): void {
    const missing: string[] = [];
    for (let dir = parent; dir !== '' && !this.folders.has(dir); dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/')))) missing.push(dir);
    for (const path of missing.reverse()) {
      this.folders.add(path);
      const slash = path.lastIndexOf('/');
      this.batch.push({ path, parent: slash === -1 ? '' : path.slice(0, slash), name: slash === -1 ? path : path.slice(slash + 1), type: 'dir', size: 0, mtime: null });
    }
  }

  /** Writes what is left and waits for every batch; throws the first failed write. */
  async finish(): Promise<void> {
    this.flushBatch();
    await this.chain;
    if (this.failed) throw this.failed;
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const rows = new Map(this.batch.map((e) => [e.path, { backupId: this.backupId, path: e.path, parent: e.parent, name: e.name, type: e.type, size: e.size, mtime: e.mtime }]));
    this.batch = [];
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        await this.db
          .insert(backupFiles)
          .values([...rows.values()])
          .onConflictDoUpdate({
            target: [backupFiles.backupId, backupFiles.path],
            set: { parent: sql`excluded.parent`, name: sql`excluded.name`, type: sql`excluded.type`, size: sql`excluded.size`, mtime: sql`excluded.mtime` },
          });
      } catch (err) {
        this.failed = err;
      }
    });
  }
}
