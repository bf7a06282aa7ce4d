import { Type } from '@sinclair/typebox';
import { queueAliases } from '@mm/jobs';

export const QueueCounts = Type.Object({
  waiting: Type.Integer({ description: 'wait + prioritized: every job has a priority, so BullMQ keeps waiting jobs in its prioritized set' }),
  active: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  delayed: Type.Integer(),
  total: Type.Integer(),
});

export const Health = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')]),
  message: Type.String(),
});

export const QueueMetrics = Type.Object({
  ...Object.fromEntries(queueAliases.map((q) => [q, QueueCounts])),
  health: Health,
});

/** While Redis is down the counts are unknown: null, with health unhealthy. */
export const QueueMetricsUnavailable = Type.Object({
  success: Type.Literal(false),
  data: Type.Object({ ...Object.fromEntries(queueAliases.map((q) => [q, Type.Null()])), health: Health }),
  error: Type.Object({ code: Type.Literal('SERVICE_UNAVAILABLE'), message: Type.String() }),
});

export const SystemMetrics = Type.Object({
  process: Type.Object({
    uptimeSeconds: Type.Number(),
    memory: Type.Object({ rssBytes: Type.Integer(), heapUsedBytes: Type.Integer(), heapTotalBytes: Type.Integer(), externalBytes: Type.Integer() }),
    eventLoopDelayMs: Type.Object({ mean: Type.Number(), p99: Type.Number(), max: Type.Number() }),
  }),
  redis: Type.Object({
    reachable: Type.Boolean(),
    version: Type.Union([Type.String(), Type.Null()]),
    usedMemoryBytes: Type.Union([Type.Integer(), Type.Null()]),
    maxmemoryPolicy: Type.Union([Type.String(), Type.Null()]),
    connectedClients: Type.Union([Type.Integer(), Type.Null()]),
    warning: Type.Optional(Type.String()),
  }),
  database: Type.Object({ reachable: Type.Boolean(), latencyMs: Type.Union([Type.Number(), Type.Null()]) }),
  queues: Type.Union([QueueMetrics, Type.Null()]),
});
