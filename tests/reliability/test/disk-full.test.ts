import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups } from '@mm/db';
import { expectNoOpenRecords } from './support/consistency.js';
import { enqueueBackup } from './support/enqueue.js';
import { filesUnder, sparseSource } from './support/files.js';
import { killAll, waitFor } from '@mm/testing';
import { createStack, type Stack } from './support/stack.js';
import { mountTinyDisk } from './support/tiny-disk.js';

/*
 * Backup directory full: BACKUP_DIR is a 2 MiB tmpfs. An uncompressed 16 MiB backup fails with a message naming
 * the full disk (ENOSPC and the directory), its partial file is removed, and the same worker then stores a
 * compressed backup of the same data (zeros: a few KiB) without a restart.
 */

let stack: Stack;
let disk: { unmount(): Promise<void> } | undefined;

beforeAll(async () => {
  stack = await createStack({ sshd: true });
  disk = await mountTinyDisk(stack.backupDir, 2 * 1024 * 1024);
});

afterAll(async () => {
  // Workers first (they may hold files open on the tmpfs), then the mount, then the mount point with the rest.
  if (stack) await killAll(stack.processes);
  await disk?.unmount();
  await stack?.cleanup();
});

const finished = (stack: Stack, id: string) => async () => ['completed', 'failed'].includes(await stack.producer.queue('backup').getJobState(id));

describe('backup directory full', () => {
  it('fails clearly naming the disk, removes the partial file, and keeps serving other backups', async () => {
    const source = await sparseSource(stack.sshd!, 'big', 16 * 1024 * 1024);
    const server = await stack.insertServer([source]);
    const worker = await stack.startWorker('backup-worker');

    const tooBig = await enqueueBackup(stack.producer, server.id, { compression: false });
    await waitFor(finished(stack, tooBig), 'the oversized backup to finish', 3 * 60_000, 250);
    expect(await stack.producer.queue('backup').getJobState(tooBig)).toBe('failed');
    const [failed] = await stack.db.db.select().from(backups).where(eq(backups.id, tooBig));
    expect(failed?.status).toBe('failed');
    // Not retried: another attempt would only fill the disk again.
    expect(failed?.attempts).toBe(1);
    expect(failed?.error).toMatch(/ENOSPC/);
    expect(failed?.error).toContain(stack.backupDir);
    expect((await stack.producer.queue('backup').getJob(tooBig))?.failedReason).toBe(failed?.error);
    expect(await filesUnder(stack.backupDir)).toEqual([]);

    const small = await enqueueBackup(stack.producer, server.id, { compression: true });
    await waitFor(finished(stack, small), 'the compressed backup to finish', 3 * 60_000, 250);
    expect(await stack.producer.queue('backup').getJobState(small)).toBe('completed');
    const [stored] = await stack.db.db.select().from(backups).where(eq(backups.id, small));
    expect(stored?.status).toBe('completed');
    // The archive and its GNU tar snapshot file (the base of a later incremental).
    expect(await filesUnder(stack.backupDir)).toEqual([`${server.id}/${small}.snar`, `${server.id}/${small}.tar.gz`]);
    await expectNoOpenRecords(stack);
    expect(worker.running()).toBe(true);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
