export * from './schema.js';
export { createDatabase, type Database, type DatabaseOptions, type Db } from './client.js';
export { migrateDatabase, ensureDatabase, migrationsFolder } from './migrate.js';
export {
  encryptCredentials,
  decryptCredentials,
  encryptWebhookSecret,
  decryptWebhookSecret,
  storedSecretVersion,
  SecretDecryptError,
  type ServerCredentials,
  type CredentialBinding,
} from './credentials.js';
export { upgradeStoredSecrets, type SecretUpgrade } from './secret-upgrade.js';
export { checkPostgres, DependencyUnavailableError } from './preflight.js';
export { pruneJobLogs, deleteJobLogs } from './job-log-retention.js';
export { encryptStorageTargetSecrets, decryptStorageTargetSecrets } from './storage-target-secrets.js';
export { globToLike, selectorWhere, type SelectorCriteria, type ServerSelector } from './server-selector.js';
export { serverWindowsAt, waitingMessage, windowsSelecting, windowStateAt, type ServerWindows, type WindowState, type WindowTiming } from './maintenance-windows.js';
