import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { queueAliases } from '@mm/jobs';
import { ApiError } from '../../shared/errors.js';
import { queueMetrics } from '../../shared/queue-metrics.js';
import { queueStoreInfo } from './queue-store-info.js';
import { queueStoreName, withQueue } from '../../shared/queue-guard.js';
import { errors, ok } from '../../shared/schemas.js';
import { QueueMetrics, QueueMetricsUnavailable, SystemMetrics } from './schemas.js';

export interface MetricsRoutesOptions {
  degradedThreshold: number;
}

const ns = (n: number) => Math.round((n / 1e6) * 100) / 100;

const routes: FastifyPluginAsyncTypebox<MetricsRoutesOptions> = async (app, { degradedThreshold }) => {
  const readQueues = () => withQueue(app.queueBackend, () => queueMetrics(app.producer, degradedThreshold));

  app.get(
    '/api/metrics/queues',
    {
      schema: {
        tags: ['metrics'],
        summary: "The seed's queue statistics, with health (degraded above the waiting threshold or without workers)",
        response: { 200: ok(QueueMetrics), 503: QueueMetricsUnavailable, ...errors(401, 429) },
      },
    },
    async (request, reply) => {
      try {
        return { success: true as const, data: await readQueues() };
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'SERVICE_UNAVAILABLE') throw err;
        request.log.warn({ backend: app.queueBackend.kind }, 'queue metrics: queue store unreachable');
        const message = `${queueStoreName(app.queueBackend)} is unreachable: no job can be enqueued or processed.`;
        return reply.code(503).send({
          success: false as const,
          data: { ...Object.fromEntries(queueAliases.map((q) => [q, null])), health: { status: 'unhealthy' as const, message } },
          error: { code: 'SERVICE_UNAVAILABLE' as const, message },
        });
      }
    },
  );

  app.get(
    '/api/metrics/system',
    {
      schema: {
        tags: ['metrics'],
        summary: 'Process, queue store (Redis, or PostgreSQL), database and queue health',
        response: { 200: ok(SystemMetrics), ...errors(401, 429) },
      },
    },
    async () => {
      const [redis, queues, database] = await Promise.all([
        withQueue(app.queueBackend, () => queueStoreInfo(app.queueBackend, app.sql)).then(
          (info) => ({ reachable: true, ...info }),
          () => ({ reachable: false, version: null, usedMemoryBytes: null, maxmemoryPolicy: null, connectedClients: null }),
        ),
        readQueues().catch(() => null),
        pingDatabase(),
      ]);
      const mem = process.memoryUsage();
      const h = app.eventLoopDelay;
      return {
        success: true as const,
        data: {
          process: {
            uptimeSeconds: Math.round(process.uptime()),
            memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external },
            eventLoopDelayMs: { mean: ns(h.mean || 0), p99: ns(h.percentile(99) || 0), max: ns(h.max || 0) },
          },
          redis,
          database,
          queues,
        },
      };
    },
  );

  async function pingDatabase(): Promise<{ reachable: boolean; latencyMs: number | null }> {
    const started = process.hrtime.bigint();
    try {
      await app.sql`select 1`;
      return { reachable: true, latencyMs: Number(process.hrtime.bigint() - started) / 1e6 };
    } catch {
      return { reachable: false, latencyMs: null };
    }
  }
};

export default routes;
