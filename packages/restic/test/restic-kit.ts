import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from '@mm/testing';

/** Installs Debian's restic when missing (tests run as root, as CI does). */
export const ensureRestic = (): Promise<void> => ensureDebianPackage('/usr/bin/restic', 'restic');

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
