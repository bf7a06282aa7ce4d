import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backups } from '@mm/db';
import { expectNoOpenRecords, expectStoredArchives } from './support/consistency.js';
import { enqueueBackup } from './support/enqueue.js';
import { sparseSource } from './support/files.js';
import { dropSshConnections } from './support/sshd-connections.js';
import { createStack, type Stack } from './support/stack.js';
import { waitFor } from '@mm/testing';

/*
 * The SSH connection dropped in the middle of a backup (the per-connection sshd child of this test's sshd is
 * killed): the attempt fails, is retried after the catalog backoff, and completes; no partial file remains.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await createStack({ sshd: true });
});

afterAll(async () => {
  await stack?.cleanup();
});

const BLOB_BYTES = 256 * 1024 * 1024;
const sizeOf = async (path: string) => (await stat(path).catch(() => undefined))?.size ?? -1;

describe('SSH connection dropped mid-backup', () => {
  it('fails the attempt, retries it and completes, leaving only the finished archive', async () => {
    const source = await sparseSource(stack.sshd!, 'big', BLOB_BYTES);
    const server = await stack.insertServer([source]);
    const worker = await stack.startWorker('backup-worker');
    const backupId = await enqueueBackup(stack.producer, server.id);
    const partial = join(stack.backupDir, server.id, `${backupId}.tar.partial`);

    await waitFor(async () => (await sizeOf(partial)) > 4 * 1024 * 1024, 'the archive transfer to be under way', 120_000, 20);
    expect(await dropSshConnections(stack.sshd!)).toBeGreaterThan(0);

    await waitFor(async () => {
      const state = await stack.producer.queue('backup').getJobState(backupId);
      return state === 'completed' || state === 'failed';
    }, 'the backup to finish', 5 * 60_000, 250);
    expect(await stack.producer.queue('backup').getJobState(backupId)).toBe('completed');
    const [record] = await stack.db.db.select().from(backups).where(eq(backups.id, backupId));
    expect(record).toMatchObject({ status: 'completed', attempts: 2, error: null });
    // The whole blob made it into the stored archive, not what the dropped attempt had received.
    expect(record?.sizeBytes).toBeGreaterThan(BLOB_BYTES);
    const retried = worker.logLines('job attempt failed; will retry');
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatchObject({ jobId: backupId, attempt: 1, final: false });
    await expectStoredArchives(stack, server.id, [backupId]);
    await expectNoOpenRecords(stack);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
