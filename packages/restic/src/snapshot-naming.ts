/*
 * How the service names what it puts in a repository: the one home for these names, shared by the backup worker
 * (which stores) and the API (which reads back), and printed in docs/BACKUPS.md's recovery commands.
 */

/** How a backup's bytes are encoded: gzip, then AES-256-GCM when the record says so. */
export interface ArchiveFormat {
  compression: boolean;
  encryption: boolean;
}

/**
 * A plain-storage archive's file name, `<backup id>.tar[.gz][.enc]`: the key the backup worker stores it under (in
 * its server's folder) and the name the API's download gives it (prefixed with the server's name).
 */
export const archiveFileName = (backupId: string, format: ArchiveFormat): string =>
  `${backupId}.tar${format.compression ? '.gz' : ''}${format.encryption ? '.enc' : ''}`;

/** The one file a repository backup's snapshot holds: the server's tar stream, as `restic backup --stdin` stored it. */
export const snapshotFileName = (backupId: string): string => `${backupId}.tar`;

/** The path `restic dump <snapshot> <path>` takes for that file. */
export const snapshotFilePath = (backupId: string): string => `/${snapshotFileName(backupId)}`;

/** Tags on every snapshot, so plain restic finds a server's or a backup's snapshots. */
export const serverTag = (serverId: string): string => `server:${serverId}`;
export const backupTag = (backupId: string): string => `backup:${backupId}`;
