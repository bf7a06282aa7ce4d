export * from './schema.js';
export { createDatabase, type Database, type DatabaseOptions, type Db } from './client.js';
export { migrateDatabase, ensureDatabase, migrationsFolder } from './migrate.js';
export { encryptCredentials, decryptCredentials, encryptSecret, decryptSecret, type ServerCredentials } from './credentials.js';
export { checkPostgres, DependencyUnavailableError } from './preflight.js';
export { pruneJobLogs, deleteJobLogs } from './job-log-retention.js';
