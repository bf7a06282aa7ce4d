export { ResticRepository, type ResticOptions, type BackupStdinOptions } from './repository.js';
export { ResticError, classifyFailure, type ResticErrorKind } from './errors.js';
export { repositoryString, type ResticLocation, type ResticTarget } from './location.js';
export { fingerprintOfKeyBlob } from './invocation.js';
export { resticAvailable } from './availability.js';
export type { Snapshot, SnapshotNode, BackupProgress, BackupSummary, ForgetPolicy, CheckResult } from './types.js';
export { archiveFileName, snapshotFileName, snapshotFilePath, serverTag, backupTag, type ArchiveFormat } from './snapshot-naming.js';
