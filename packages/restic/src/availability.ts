import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The installed restic's version ("0.14.0"), or undefined when it cannot be run. 0.14 is the oldest with compression. */
export async function resticAvailable(binary = 'restic'): Promise<{ version: string } | undefined> {
  try {
    const { stdout } = await run(binary, ['version'], { timeout: 10_000 });
    const version = /restic (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    if (!version) return undefined;
    const [major = 0, minor = 0] = version.split('.').map(Number);
    return major > 0 || minor >= 14 ? { version } : undefined;
  } catch {
    return undefined;
  }
}
