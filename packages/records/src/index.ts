export {
  recordKinds,
  recordKindOf,
  recordTables,
  type RecordKind,
  type RecordName,
  type RecordJobName,
  type RecordNameOf,
  type RecordTableOf,
  type TableSpecificInsert,
} from './record-kinds.js';
export { payloadColumns } from './payload-columns.js';
export { createRecordLifecycle, cancelRecord, type RecordJob, type RecordLifecycle, type RecordWriter } from './record-writes.js';
export { findRecordStatus, findOpenRecord, RECORD_STATUSES, type RecordStatus, type RecordStatusValue } from './record-lookups.js';
export { reopenFailedRecord, type ReopenOutcome } from './record-reopen.js';
