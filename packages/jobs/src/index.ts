export * from './catalog.js';
export { validatePayload, InvalidPayloadError } from './payload-validation.js';
export { recordIdOf, recordIdOfJobId } from './record-id.js';
export { ServerJobIndex } from './server-job-index.js';
export { createQueue, createWorker, createQueueEvents, createRedisConnection, type QueueConfig, type ConnectionRole } from './queue-factory.js';
export { createQueueEventsProducer, QUEUE_EVENTS_MAX_LEN } from './queue-factory.js';
export { createRelay } from './queue-factory.js';
export { CANCEL_TOPIC, CANCEL_MARKER_TTL_MS, cancelMarkerKey, isCancelMessage, type CancelMessage } from './cancel-request.js';
export { createProducer, type Producer, type ProducerConfig, type EnqueueOptions } from './producer.js';
export { createProcessor, assertHandlers, type Handler, type Handlers } from './processor.js';
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
