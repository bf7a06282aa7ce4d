/**
 * The webhook events a job's completion raises, declared on its catalog entry (`completed`), typed by the result its
 * handler returns. The worker runtime adds the job's id, queue, name and server, and queues one delivery per
 * subscribed webhook; `key` makes a repeat (a job re-run after its record finished) a no-op per webhook.
 */
export interface RaisedEvent {
  event: 'backup.completed' | 'scan.critical_finding';
  key: string;
  data: Record<string, unknown>;
}

/** From a completed job's result (and its record id) to the events it raises; none is fine. */
export type CompletionEvents<R> = (result: R, recordId: string) => RaisedEvent[];

/** What a backup handler returns (and the job's BullMQ return value holds); the archive's path stays out of events. */
export interface BackupSummary {
  backupId: string;
  backupType: 'full' | 'incremental';
  sizeBytes: number;
  sha256: string;
}

export const backupCompleted: CompletionEvents<BackupSummary> = (r) => [
  { event: 'backup.completed', key: r.backupId, data: { backupId: r.backupId, backupType: r.backupType, sizeBytes: r.sizeBytes, sha256: r.sha256 } },
];

export interface CriticalFinding {
  code: string;
  /** At most 500 characters. */
  message: string;
}

/** What a full scan returns: counts, and its critical findings (the few a webhook subscriber must hear about). */
export interface FullScanSummary {
  findings: number;
  notes: number;
  critical: CriticalFinding[];
}

export const fullScanCompleted: CompletionEvents<FullScanSummary> = (r, scanId) =>
  // Checked although typed: the result crossed BullMQ's JSON, and test doubles return other shapes.
  Array.isArray(r?.critical) && r.critical.length > 0 ? [{ event: 'scan.critical_finding', key: scanId, data: { scanId, findings: r.critical } }] : [];
