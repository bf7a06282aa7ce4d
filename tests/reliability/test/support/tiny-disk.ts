import { run } from './files.js';

/**
 * Mounts a tmpfs of `bytes` on `dir` (an empty temp dir of the test's own): a disk that fills up for real.
 * Needs root (CAP_SYS_ADMIN), which the test machine and the CI container have. `unmount()` is safe twice.
 */
export async function mountTinyDisk(dir: string, bytes: number): Promise<{ unmount(): Promise<void> }> {
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  let mounted = true;
  return {
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', [dir]);
    },
  };
}
