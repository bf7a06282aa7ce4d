export { parseEnv, parseEnvOrExit, EnvError, CommonEnv, SecretEnv, CLUSTER_QUEUE_PREFIX, HASH_TAG } from './parse-env.js';
export { resolveQueueBackend, type QueueBackendKind } from './queue-backend.js';
export { createLogger, loggerOptions, redactPaths, type Logger, type LoggerConfig } from './logger.js';
export { projectRoot, resolveProjectPath, resolveRepositoryString } from './project-path.js';
