export * from './catalog.js';
export type { RaisedEvent, CompletionEvents, BackupSummary, FullScanSummary, CriticalFinding } from './job-events.js';
export { validatePayload, InvalidPayloadError } from './payload-validation.js';
export { recordIdOf, recordIdOfJobId } from './record-id.js';
export { RedisServerJobIndex, PostgresServerJobIndex, type ServerJobIndex, type ServerJobEntry } from './server-job-index.js';
export { createRedisConnection, queueEventsConnection, type QueueConfig, QUEUE_EVENTS_MAX_LEN } from './queue-factory.js';
export { isCluster, duplicateConnection, pingQueueRedis, clusterSeeds, type RedisClient } from './redis-client.js';
export {
  createQueue,
  createNamedQueue,
  createWorker,
  createNamedWorker,
  createQueueEvents,
  createQueueEventsProducer,
  createNamedQueueEvents,
  createRelay,
  openQueueBackend,
  prepareQueueBackend,
  describeQueueBackend,
  runQueueMigrations,
  POSTGRES_QUEUE_SCHEMA,
  type QueueBackend,
  type QueueBackendKind,
  type BackendEnv,
  type AnyQueueConfig,
  type PostgresQueueConfig,
  type ConnectionRole,
} from './backend.js';
export { type KeyValueStore, redisKeyValueStore, postgresKeyValueStore } from './stores/key-value-store.js';
export { type QueueInspector, type JobRead, type StreamEntry, type EventsQueue, eventsQueueName, redisQueueInspector, postgresQueueInspector, postgresStreamId } from './stores/queue-inspector.js';
export { type Broadcast, type BroadcastListener, redisBroadcast, postgresBroadcast, postgresChannel } from './stores/broadcast.js';
export { type LeaseStore, redisLeaseStore, postgresLeaseStore, serverLeaseKey } from './stores/lease-store.js';
export { CANCEL_TOPIC, CANCEL_MARKER_TTL_MS, cancelMarkerKey, isCancelMessage, type CancelMessage } from './cancel-request.js';
export { createProducer, type Producer, type ProducerConfig, type EnqueueOptions } from './producer.js';
export { createProcessor, assertHandlers, readJob, runHandler, type Handler, type Handlers, type ReadJob } from './processor.js';
export { checkRedis, RedisUnavailableError } from './preflight.js';
export {
  BACKUP_SCHEDULER_PREFIX,
  CLEANUP_SCHEDULER_ID,
  backupSchedulerId,
  upsertBackupScheduler,
  removeBackupScheduler,
  upsertCleanupScheduler,
  listBackupSchedulers,
  reconcileSchedulers,
  type BackupScheduleSpec,
  type CleanupScheduleSpec,
  type ReconcileResult,
} from './schedules.js';
export { FLEET_RUN_JOB, fleetRunJobOptions, createFleetQueue, isFleetRunJobData, type FleetRunJobData } from './fleet-queue.js';
