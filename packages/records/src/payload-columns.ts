import type { PayloadOf } from '@mm/jobs';
import type { RecordJobName, RecordNameOf, RecordTableOf } from './record-kinds.js';

type InsertOf<N extends RecordJobName> = RecordTableOf<RecordNameOf<N>>['$inferInsert'];

/**
 * The table-specific columns a job's own (validated) payload determines: written when the record is created, by the
 * worker at start or by the API when a job is cancelled before it ran. One entry per job name with a record: the
 * compiler asks for a new job kind's line here.
 */
export const payloadColumns: { [N in RecordJobName]: (payload: PayloadOf<N>) => Partial<InsertOf<N>> } = {
  'backup:manual': ({ options }) => ({ backupType: options.backup_type, compression: options.compression, encryption: options.encryption, isScheduled: false }),
  'backup:scheduled': ({ options }) => ({ backupType: options.backup_type, compression: options.compression, encryption: options.encryption, isScheduled: true }),
  'backup:restore': ({ backupId, targetPath, paths }) => ({ backupId, targetPath, paths: paths ?? null }),
  'scan:full': () => ({ scanType: 'full' }),
  'scan:quick': () => ({ scanType: 'quick' }),
  'update:server': ({ options }) => ({ dryRun: options.dry_run, packages: options.packages ?? null }),
};
