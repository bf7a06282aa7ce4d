import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Installs a Debian package when the file it provides is missing, so `pnpm test` works on a fresh machine
 * (tests run as root, as CI does). The flock serialises parallel test files: dpkg takes one install at a time.
 */
export async function ensureDebianPackage(providedFile: string, pkg: string): Promise<void> {
  if (existsSync(providedFile)) return;
  await run('flock', ['/tmp/mm-apt.lock', 'sh', '-c', `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkg}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!existsSync(providedFile)) throw new Error(`installing ${pkg} did not provide ${providedFile}`);
}
