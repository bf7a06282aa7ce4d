import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createProducer, QueueName } from '@mm/jobs';
import { compare, NotAvailableError, type Scenario } from '../core/scenario.js';
import { percentile } from '../core/stats.js';
import { startApi, type RunningApi } from '../fixtures/api-server.js';
import { createBenchRedis, scanPayload } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { redisConnectionsOfThisProcess } from '../fixtures/redis-connections.js';

const CHILD = fileURLToPath(new URL('../sse/fan-out-child.js', import.meta.url));

interface ChildResult {
  type: 'result';
  error?: string;
  sse?: number[];
  raw?: number[];
  expected?: number;
}

/** Fails with NotAvailableError while the API has no per-job event stream, so no number is made up. */
async function requireEventsRoute(api: RunningApi): Promise<void> {
  const res = await fetch(`${api.url}/api/jobs/${randomUUID()}/events`, { headers: { authorization: `Bearer ${api.token}` } });
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  if (res.status === 404 && /^Route /.test(body.error?.message ?? '')) {
    throw new NotAvailableError('needs GET /api/jobs/:id/events (the live progress stream does not exist yet)');
  }
}

export const fanOut: Scenario = {
  id: 'fan-out',
  title: '8. Fan-out: SSE clients on one API process watching jobs (GET /api/jobs/:id/events)',
  async run(config) {
    const world = await createBenchWorld();
    const redis = createBenchRedis('fan-out');
    const redisPort = Number(new URL(redis.url).port || 6379);
    const jobCount = config.quick ? 4 : 100;
    const clientsPerJob = config.quick ? 5 : 10;
    const events = config.quick ? 3 : 10;
    try {
      const before = await redisConnectionsOfThisProcess(redisPort);
      const api = await startApi({ db: world.db, login: world.login, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: world.credentialsKey });
      try {
        await requireEventsRoute(api);
        // Waiting jobs, no worker: only the progress events this scenario publishes reach the streams.
        const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
        const jobIds: string[] = [];
        try {
          for (let i = 0; i < jobCount; i++) {
            const data = scanPayload(world.server.id);
            await producer.enqueue('scan:quick', data);
            jobIds.push(data.scanId);
          }
        } finally {
          await producer.close();
        }
        const idle = (await redisConnectionsOfThisProcess(redisPort)) - before;

        const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-2_000)));
        const out = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
        const read = async <T>(): Promise<T> => {
          const { value, done } = await out.next();
          if (done) throw new Error(`fan-out client process ended early: ${stderr.trim()}`);
          return JSON.parse(value as string) as T;
        };
        child.stdin.write(`${JSON.stringify({ apiUrl: api.url, token: api.token, jobIds, clientsPerJob, events, redisUrl: redis.url, prefix: redis.prefix, queueName: QueueName.scan })}\n`);
        const opened = await read<{ clients: number; subscribed: number; failures: number; ms: number }>();
        config.log(`fan-out: ${opened.subscribed} of ${opened.clients} streams open after ${opened.ms.toFixed(0)} ms (${opened.failures} failed)`);
        const streaming = (await redisConnectionsOfThisProcess(redisPort)) - before;
        child.stdin.write('go\n');
        const result = await read<ChildResult>();
        if (result.error || !result.sse || !result.raw) throw new Error(`fan-out: ${result.error ?? 'no result'}`);
        child.stdin.end();
        await new Promise((resolve) => child.once('close', resolve));
        const delivered = result.sse.length;
        config.log(`fan-out: ${opened.clients} streams opened in ${opened.ms.toFixed(0)} ms; ${delivered} of ${result.expected} events delivered`);
        const sse = result.sse;
        const raw = result.raw;
        return {
          metrics: [
            compare(
              `event delivery, ${opened.clients} SSE clients on ${jobCount} jobs`,
              'ms',
              { label: 'updateProgress -> SSE event parsed by the client', median: percentile(sse, 50), p99: percentile(sse, 99), samples: [] },
              { label: 'updateProgress -> BullMQ QueueEvents in the client process', median: percentile(raw, 50), p99: percentile(raw, 99), samples: [] },
            ),
            compare(
              `Redis connections of the API process with ${opened.clients} SSE clients (idle: ${idle})`,
              'connections',
              { label: 'ESTABLISHED sockets to Redis, from /proc', median: streaming, samples: [streaming] },
              undefined,
              { text: 'independent of the client count', check: () => streaming - idle <= 3 },
            ),
            compare('events delivered / expected', '%', { label: 'SSE events parsed', median: (100 * delivered) / (result.expected ?? 1), samples: [delivered] }, undefined, {
              text: '100 %',
              check: () => delivered === result.expected,
            }),
          ],
          notes: [
            `${opened.clients} clients (${clientsPerJob} per job) opened their streams all at once, the last ready after ${opened.ms.toFixed(0)} ms; ${events} progress events per job, published to all jobs at once, then the next after all deliveries.`,
            'Connections are counted before the API starts and while the streams are open; the API holds one QueueEvents per watched queue, whatever the number of clients.',
          ],
        };
      } finally {
        await api.close();
      }
    } finally {
      await redis.cleanup();
      await world.close();
    }
  },
};
