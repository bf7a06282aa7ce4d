import type { BackendEnv } from '@mm/jobs';
import type { ResticOptions, ResticTarget } from '@mm/restic';
import type { BackupStorage } from './storage/backup-storage.js';
import { LocalDirectoryStorage } from './storage/local-directory-storage.js';

/** What the backup handlers are built with (main.ts from env; tests in-process). */
export interface BackupSettings {
  /** Absolute BACKUP_DIR: archive files outside it are never read or deleted. */
  backupDir: string;
  /** Where archive-engine backups live; default: the folder backupDir (the one place the implementation is chosen). */
  storage?: BackupStorage;
  /** BACKUP_ENCRYPTION_KEY, hex (archive engine). */
  encryptionKey: string;
  /**
   * The default target's restic repository. Absent: the default target is the archive engine (restic not installed,
   * or BACKUP_ENGINE=archive).
   */
  repository?: ResticTarget;
  /** CREDENTIALS_KEY: decrypts the secrets of named storage targets. */
  credentialsKey?: string;
  /** restic's cache folder and lock wait. */
  restic?: ResticOptions;
  /** The queue backend's variables (QUEUE_BACKEND, REDIS_URL, DATABASE_URL, QUEUE_PREFIX): cleanup and purge reach the queues with them; required to run backup:cleanup. */
  queues?: BackendEnv;
}

const defaults = new WeakMap<BackupSettings, BackupStorage>();
const named = new WeakMap<BackupSettings, Map<string, BackupStorage>>();

/** The archive engine's storage for these settings: `settings.storage`, else BACKUP_DIR as a local folder. */
export function storageOf(settings: BackupSettings): BackupStorage {
  if (settings.storage) return settings.storage;
  let storage = defaults.get(settings);
  if (!storage) {
    storage = new LocalDirectoryStorage(settings.backupDir);
    defaults.set(settings, storage);
  }
  return storage;
}

/** The archive engine's storage in a named target's local folder (one instance per folder and settings). */
export function storageAt(settings: BackupSettings, dir: string): BackupStorage {
  let byDir = named.get(settings);
  if (!byDir) {
    byDir = new Map();
    named.set(settings, byDir);
  }
  let storage = byDir.get(dir);
  if (!storage) {
    storage = new LocalDirectoryStorage(dir);
    byDir.set(dir, storage);
  }
  return storage;
}
