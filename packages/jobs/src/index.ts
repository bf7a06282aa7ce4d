export * from './catalog.js';
export { validatePayload, InvalidPayloadError } from './payload-validation.js';
export { recordIdOf } from './record-id.js';
export { createQueue, createWorker, createQueueEvents, createRedisConnection, type QueueConfig, type ConnectionRole } from './queue-factory.js';
export { createProducer, type Producer, type ProducerConfig, type EnqueueOptions } from './producer.js';
export { createProcessor, assertHandlers, type Handler, type Handlers } from './processor.js';
export { checkRedis, RedisUnavailableError } from './preflight.js';
