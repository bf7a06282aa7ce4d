import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCompletedRecords, expectNoOpenRecords, expectStoredArchives } from './support/consistency.js';
import { acceptedJobId } from './support/envelope.js';
import { sparseSource } from './support/files.js';
import { sizes } from './support/sizes.js';
import { createStack, type Stack } from './support/stack.js';
import { waitFor } from '@mm/testing';

/*
 * Graceful shutdown under load: with backups and scans running and clients polling the API, every process
 * (API and the three workers) gets SIGTERM at once. Each exits 0, which runWorkerMain / server.ts only do
 * within SHUTDOWN_TIMEOUT_MS. The jobs that were active finish before their worker exits; the rest wait in
 * Redis; a fresh set of workers then completes every job exactly once. CI: 8 jobs; soak: 24.
 */

const SHUTDOWN_TIMEOUT_MS = '120000';
let stack: Stack;

beforeAll(async () => {
  stack = await createStack({ sshd: true });
});

afterAll(async () => {
  await stack?.cleanup();
});

describe('graceful shutdown under load', () => {
  it('SIGTERM to every process while jobs run: all exit 0 and no job is lost', async () => {
    const source = await sparseSource(stack.sshd!, 'big', 32 * 1024 * 1024);
    const server = await stack.insertServer([source]);
    const [api, ...workers] = await Promise.all([
      stack.startApi({ RATE_LIMIT_MAX: '1000000', SHUTDOWN_TIMEOUT_MS }),
      stack.startWorker('backup-worker', { SHUTDOWN_TIMEOUT_MS }),
      stack.startWorker('scan-worker', { SHUTDOWN_TIMEOUT_MS }),
      stack.startWorker('update-worker', { SHUTDOWN_TIMEOUT_MS }),
    ] as const);
    const completions = new Map<string, number>();
    for (const queue of ['backup', 'scan'] as const) {
      const events = await stack.events(queue);
      events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
    }

    const backups: string[] = [];
    const scans: string[] = [];
    for (let i = 0; i < sizes.shutdownJobs / 2; i++) {
      backups.push(acceptedJobId(await api.client.request('POST', `/api/servers/${server.id}/backup`, { compression: false, encryption: i % 2 === 1 })));
      scans.push(acceptedJobId(await api.client.request('POST', `/api/servers/${server.id}/scan`, { scan_type: i % 2 ? 'full' : 'quick' })));
    }
    // Clients keep polling job status while the processes go down.
    const statuses: number[] = [];
    let polling = true;
    const pollers = Array.from({ length: 4 }, async (_, i) => {
      while (polling) {
        const id = [...backups, ...scans][(statuses.length + i) % (backups.length + scans.length)] as string;
        const res = await api.client.request('GET', `/api/jobs/${id}`, undefined, 5_000).catch(() => undefined);
        if (!res) break; // the API stopped listening
        statuses.push(res.status);
      }
    });
    // Backups of one server run one at a time: a backup that is active but finds the server's lease taken goes back
    // to delayed without using an attempt, so "running at the signal" means holding the lease (value `jobId|token`).
    const leaseKey = `${stack.prefix}:mm:server-lock:${server.id}`;
    let holder = '';
    await waitFor(async () => {
      holder = (await stack.redis.get(leaseKey))?.split('|')[0] ?? '';
      return holder !== '' && (await stack.producer.queue('backup').getJobState(holder)) === 'active';
    }, 'a backup to be running');
    const activeAtSignal = [holder];

    const signalled = Date.now();
    const exitAfterMs: Record<string, number> = {};
    const exits = await Promise.all(
      [api.process, ...workers].map((p) =>
        p.stop('SIGTERM').then((exit) => {
          exitAfterMs[p.name] = Date.now() - signalled;
          return exit;
        }),
      ),
    );
    console.info(`shutdown report ${JSON.stringify({ activeBackupsAtSignal: activeAtSignal.length, exitAfterMs })}`);
    polling = false;
    await Promise.all(pollers);
    expect(exits).toEqual(exits.map(() => ({ code: 0, signal: null })));
    expect(statuses.length).toBeGreaterThan(0);
    // While closing, Fastify answers requests on kept-alive connections 503 (return503OnClosing) so clients
    // retry elsewhere; anything else 5xx would be a failure.
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    // What was running when the signal came finished before its worker left.
    for (const id of activeAtSignal) expect(await stack.producer.queue('backup').getJobState(id)).toBe('completed');
    // Nothing lost: every accepted job is still in Redis, finished or waiting for the next worker.
    for (const id of backups) expect(await stack.producer.queue('backup').getJobState(id)).not.toBe('unknown');
    for (const id of scans) expect(await stack.producer.queue('scan').getJobState(id)).not.toBe('unknown');

    const next = await Promise.all([stack.startWorker('backup-worker'), stack.startWorker('scan-worker')]);
    const all = [...backups, ...scans];
    await waitFor(() => all.every((id) => completions.has(id)), 'every job to complete', 10 * 60_000, 250);
    expect(all.filter((id) => completions.get(id) !== 1)).toEqual([]);
    await expectCompletedRecords(stack, 'backup', backups);
    await expectCompletedRecords(stack, 'scan', scans);
    await expectNoOpenRecords(stack);
    await expectStoredArchives(stack, server.id, backups);
    for (const w of next) expect(await w.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
