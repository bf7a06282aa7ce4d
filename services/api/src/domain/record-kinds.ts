import { backups, restores, scans, updates } from '@mm/db';
import type { QueueAlias } from '@mm/jobs';

/** The record tables the workers write, with the queue whose job ids are their ids (restores: backup:restore jobs). */
export const recordKinds = [
  { path: 'backups', singular: 'Backup', table: backups, queue: 'backup' },
  { path: 'scans', singular: 'Scan', table: scans, queue: 'scan' },
  { path: 'updates', singular: 'Update', table: updates, queue: 'update' },
  { path: 'restores', singular: 'Restore', table: restores, queue: 'backup' },
] as const satisfies readonly { path: string; singular: string; table: unknown; queue: QueueAlias }[];

export type RecordKind = (typeof recordKinds)[number];
