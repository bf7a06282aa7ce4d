export * from './schema/enums.js';
export * from './schema/users.js';
export * from './schema/servers.js';
export * from './schema/backups.js';
export * from './schema/scans.js';
export * from './schema/updates.js';
