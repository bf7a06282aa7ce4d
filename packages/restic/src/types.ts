export interface Snapshot {
  id: string;
  shortId: string;
  time: string;
  hostname: string;
  tags: string[];
  paths: string[];
}

export interface BackupProgress {
  /** Bytes read from stdin so far. */
  bytesDone: number;
  percentDone?: number;
}

export interface BackupSummary {
  snapshotId: string;
  /** Bytes restic read (the size of the stream). */
  bytesRead: number;
  /** Bytes the repository grew by before compression (restic 0.14 reports data_added uncompressed). */
  bytesAdded: number;
  durationSeconds: number;
}

export interface SnapshotNode {
  path: string;
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket' | 'irregular';
  size?: number;
  mtime?: string;
}

/** The `restic forget` policy; absent fields keep nothing by that rule. */
export interface ForgetPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface CheckResult {
  ok: boolean;
  /** restic's output, the last lines only. */
  output: string;
  /** Full ids of the packs restic found damaged (from the whole output); empty when ok. */
  damagedPacks: string[];
}
