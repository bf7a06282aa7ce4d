import type { Readable } from 'node:stream';
import { snapshotFilePath } from '@mm/restic';
import { openRepository, resticToApiError, type OpenableTarget } from '../storage-targets/target-access.js';


export interface SnapshotStream {
  /** The tar stream, byte for byte as the worker stored it. */
  tar: Readable;
  /** Stops restic (a client that went away, or a single file already sent). */
  stop(): void;
  /** Settles when restic has exited and its password file is gone; rejects only for a failure before `stop()`. */
  finished: Promise<void>;
}

/**
 * `restic dump` of a backup's tar, started and checked before the caller answers: a wrong password, a missing
 * snapshot or an unreachable target is an error here (a clear 4xx), not a response cut off after its headers.
 */
export async function openSnapshotStream(target: OpenableTarget, snapshotId: string, backupId: string): Promise<SnapshotStream> {
  const repository = openRepository(target);
  let stopped = false;
  try {
    const dump = await repository.dump(snapshotId, snapshotFilePath(backupId));
    // The first bytes, or restic's verdict when it printed none (a failed dump prints nothing on stdout).
    const failure = await new Promise<unknown>((resolve) => {
      const onReadable = () => {
        const chunk: Buffer | null = dump.stdout.read();
        if (chunk === null) return;
        dump.stdout.unshift(chunk);
        dump.stdout.off('readable', onReadable);
        resolve(undefined);
      };
      dump.stdout.on('readable', onReadable);
      dump.stdout.once('end', () => dump.done.then(() => resolve(undefined), resolve));
      dump.done.catch(resolve);
    });
    if (failure !== undefined) throw resticToApiError(failure, target) ?? failure;
    const finished = dump.done.then(
      () => undefined,
      (err: unknown) => {
        if (!stopped) throw err;
      },
    );
    void finished.finally(() => repository.close()).catch(() => undefined);
    return {
      tar: dump.stdout,
      stop() {
        stopped = true;
        dump.kill();
      },
      finished,
    };
  } catch (err) {
    await repository.close();
    throw err;
  }
}
