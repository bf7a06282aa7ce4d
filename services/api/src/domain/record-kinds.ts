import { backups, scans, updates } from '@mm/db';
import type { QueueAlias } from '@mm/jobs';

/** The three record tables the workers write, with the queue whose job ids are their ids. */
export const recordKinds = [
  { path: 'backups', singular: 'Backup', table: backups, queue: 'backup' },
  { path: 'scans', singular: 'Scan', table: scans, queue: 'scan' },
  { path: 'updates', singular: 'Update', table: updates, queue: 'update' },
] as const satisfies readonly { path: string; singular: string; table: unknown; queue: QueueAlias }[];

export type RecordKind = (typeof recordKinds)[number];
