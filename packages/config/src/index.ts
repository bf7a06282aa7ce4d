export { parseEnv, parseEnvOrExit, EnvError, CommonEnv, SecretEnv } from './parse-env.js';
export { createLogger, loggerOptions, redactPaths, type Logger, type LoggerConfig } from './logger.js';
