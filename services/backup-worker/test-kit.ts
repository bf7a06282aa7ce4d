// What other packages' tests and the bench use of the backup worker (its src/ is not imported from outside):
// the env parser, the handler map and the remote tar command.
export { parseBackupWorkerEnv } from './src/env.js';
export { backupHandlers } from './src/handlers.js';
export { buildTarCommand } from './src/tar-command.js';
