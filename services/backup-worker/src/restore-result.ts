/** What the job returns and the restores record keeps in `result`. */
export interface RestoreJobResult {
  restoreId: string;
  backupId: string;
  serverId: string;
  targetPath: string;
  /** The members restored (absolute paths inside the backup); null: the whole backup. */
  paths: string[] | null;
  /** Backup ids extracted, in order (full base first). */
  chain: string[];
  /** Archive bytes sent to the server (decrypted; still gzip-compressed when the backup is). */
  bytes: number;
  /** Members tar extracted (files, folders, links), summed over the chain. */
  entries: number;
  warnings: string[];
}

export const RestoreProgress = {
  STARTED: 10,
  SERVER_VERIFIED: 20,
  RECORD_CREATED: 30,
  CHAIN_VERIFIED: 40,
  TRANSFERRED: 90,
  RECORD_UPDATED: 100,
} as const;
