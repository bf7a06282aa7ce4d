import type { RecordName } from '@mm/records';

/**
 * The record tables the history merges (keyed by the catalog's record names, so a renamed table fails to compile),
 * each with its item `type` and its own columns as the four output columns every branch shares, for UNION ALL.
 * Restores are not history items: they belong to their backup.
 */
export const historyKinds = {
  backups: { type: 'backup', columns: `r.backup_type::text as backup_type, r.size_bytes::text as size_bytes, null::text as scan_type, null::boolean as dry_run` },
  scans: { type: 'scan', columns: `null::text as backup_type, null::text as size_bytes, r.scan_type::text as scan_type, null::boolean as dry_run` },
  updates: { type: 'update', columns: `null::text as backup_type, null::text as size_bytes, null::text as scan_type, r.dry_run as dry_run` },
} as const satisfies Partial<Record<RecordName, { type: string; columns: string }>>;

export type HistoryTable = keyof typeof historyKinds;
export type HistoryType = (typeof historyKinds)[HistoryTable]['type'];

export const historyTables = Object.keys(historyKinds) as HistoryTable[];
export const HISTORY_TYPES: HistoryType[] = historyTables.map((table) => historyKinds[table].type);
