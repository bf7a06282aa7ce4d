import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { TEST_SSH_USER, type TestSshd } from '@mm/testing';

export const run = promisify(execFile);

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Every file under `dir`, recursively, relative to it. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/**
 * A folder in the sshd's work dir holding one sparse file of `bytes`: no disk on the source side, yet tar
 * reads and sends every byte, so a backup of it lasts long enough to be interrupted. Returns its path.
 */
export async function sparseSource(sshd: TestSshd, name: string, bytes: number): Promise<string> {
  const dir = join(sshd.workDir, name);
  await mkdir(dir, { recursive: true });
  await run('truncate', ['-s', String(bytes), join(dir, 'blob.bin')]);
  await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, dir]);
  return dir;
}
