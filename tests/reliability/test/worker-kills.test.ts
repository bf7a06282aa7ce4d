import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueAlias } from '@mm/jobs';
import { expectCompletedRecords, expectNoOpenRecords, expectStoredArchives } from './support/consistency.js';
import { enqueueBackup, enqueueScan } from './support/enqueue.js';
import { sparseSource } from './support/files.js';
import { type ServiceProcess, waitFor } from '@mm/testing';
import { sizes } from './support/sizes.js';
import { createStack, type Stack } from './support/stack.js';

/*
 * Worker SIGKILL at random points of backups and scans. CI: 5 kills; `pnpm soak`: 20 (sizes.ts).
 * Each kill lands while at least one job of the target worker is active, a random 0.1-1.5 s into whatever it
 * is doing. BullMQ fails a job that stalls more than maxStalledCount (2) times, on purpose (a job that keeps
 * killing its worker), so a job is never killed a third time: that limit is tested elsewhere, not here.
 */

const BLOB_BYTES = 32 * 1024 * 1024;
const workerOf: Record<'backup' | 'scan', 'backup-worker' | 'scan-worker'> = { backup: 'backup-worker', scan: 'scan-worker' };

let stack: Stack;

beforeAll(async () => {
  stack = await createStack({ sshd: true });
});

afterAll(async () => {
  await stack?.cleanup();
});

describe('worker killed with SIGKILL', () => {
  it(`${sizes.workerKills} kills at random points: every job completes exactly once, records match the queue, no partial file`, async () => {
    const source = await sparseSource(stack.sshd!, 'big', BLOB_BYTES);
    const server = await stack.insertServer([source]);
    const completions = new Map<string, number>();
    const failures: string[] = [];
    for (const queue of ['backup', 'scan'] as const) {
      const events = await stack.events(queue);
      events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
      events.on('failed', ({ jobId, failedReason }) => failures.push(`${queue} ${jobId}: ${failedReason}`));
    }
    const ids: Record<'backup' | 'scan', string[]> = { backup: [], scan: [] };
    const enqueueBatch = async (queue: 'backup' | 'scan') => {
      if (queue === 'backup') {
        for (let i = 0; i < sizes.killBackups; i++) ids.backup.push(await enqueueBackup(stack.producer, server.id, { compression: i % 3 === 1, encryption: i % 2 === 1 }));
      } else {
        for (let i = 0; i < sizes.killScans; i++) ids.scan.push(await enqueueScan(stack.producer, server.id, i % 2 ? 'scan:full' : 'scan:quick'));
      }
    };
    await enqueueBatch('backup');
    await enqueueBatch('scan');

    const [backupWorker, scanWorker] = await Promise.all([stack.startWorker('backup-worker'), stack.startWorker('scan-worker')]);
    const workers: Record<'backup' | 'scan', ServiceProcess> = { backup: backupWorker, scan: scanWorker };
    const killsOf = new Map<string, number>();
    const killed: { queue: QueueAlias; jobIds: string[] }[] = [];
    while (killed.length < sizes.workerKills) {
      // Alternate targets; a queue with nothing left gets a fresh batch of its own so every kill lands on live work.
      const queue = killed.length % 2 === 0 ? 'backup' : 'scan';
      let active: string[] = [];
      await waitFor(async () => {
        const counts = await stack.producer.queue(queue).getJobCounts('wait', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).every((n) => n === 0)) await enqueueBatch(queue);
        active = (await stack.producer.queue(queue).getActive()).map((j) => String(j.id));
        return active.length > 0 && active.every((id) => (killsOf.get(id) ?? 0) < 2);
      }, `an active ${queue} job to kill`);
      await delay(randomInt(100, 1_500));
      active = (await stack.producer.queue(queue).getActive()).map((j) => String(j.id));
      if (active.length === 0 || active.some((id) => (killsOf.get(id) ?? 0) >= 2)) continue;
      await workers[queue].stop('SIGKILL');
      for (const id of active) killsOf.set(id, (killsOf.get(id) ?? 0) + 1);
      killed.push({ queue, jobIds: active });
      workers[queue] = await stack.startWorker(workerOf[queue]);
    }

    const all = [...ids.backup, ...ids.scan];
    await waitFor(async () => all.every((id) => completions.get(id) === 1) || failures.length > 0, 'every job to complete', 10 * 60_000, 250);
    expect(failures).toEqual([]);
    expect(killed).toHaveLength(sizes.workerKills);
    // Exactly once: one completion event per job, none twice (a second would mean a job ran to the end twice).
    expect(all.filter((id) => completions.get(id) !== 1)).toEqual([]);
    await expectCompletedRecords(stack, 'backup', ids.backup);
    await expectCompletedRecords(stack, 'scan', ids.scan);
    await expectNoOpenRecords(stack);
    await expectStoredArchives(stack, server.id, ids.backup);
    // Every killed job was re-run by a later worker, which first removed the partial archive it had left.
    const interruptedBackups = new Set(killed.filter((k) => k.queue === 'backup').flatMap((k) => k.jobIds));
    expect(interruptedBackups.size).toBeGreaterThan(0);
    const linesOf = (msg: string) =>
      [...stack.processes].filter((p) => p.name === 'backup-worker').flatMap((p) => p.logLines(msg).map((l) => String(l.jobId)));
    const stored = linesOf('backup stored');
    const reported = linesOf('backup already completed; not repeating it');
    // An archive is stored once per backup: a re-run after a completed record reports it instead of writing it again.
    // (A kill between the record's completion and the "stored" log line leaves only the re-run's report.)
    expect(stored.length).toBe(new Set(stored).size);
    expect(reported.every((id) => interruptedBackups.has(id))).toBe(true);
    expect([...new Set([...stored, ...reported])].sort()).toEqual([...ids.backup].sort());
    console.info(`worker kills: ${killed.length} kills, ${ids.backup.length} backups, ${ids.scan.length} scans, ${interruptedBackups.size} backups interrupted`);

    for (const w of Object.values(workers)) expect(await w.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
