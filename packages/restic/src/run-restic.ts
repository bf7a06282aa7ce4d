import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';

export interface Spawned {
  child: ChildProcess;
  /** Resolves when restic exits, with its exit code and the tail of its stderr. Never rejects. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; spawnError?: NodeJS.ErrnoException }>;
}

const STDERR_TAIL_BYTES = 64 * 1024;

// setpriv --pdeathsig: restic dies with the worker. Without it a SIGKILLed worker would close restic's stdin,
// restic would take that EOF for the end of the tar and save a truncated snapshot.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export function spawnRestic(binary: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'pipe' | 'ignore'): Spawned {
  const [command, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
  const child = spawn(command, argv, { env, stdio: [stdin, 'pipe', 'pipe'] });
  const done = new Promise<Awaited<Spawned['done']>>((resolve) => {
    let tail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      tail = (tail + s).slice(-STDERR_TAIL_BYTES);
    });
    child.once('error', (spawnError: NodeJS.ErrnoException) => resolve({ code: null, signal: null, stderr: tail, spawnError }));
    child.once('close', (code, signal) => resolve({ code, signal, stderr: tail }));
  });
  return { child, done };
}

/** Reads a child's stdout up to `limit` bytes; past it the child is killed and the read fails. */
export function collect(stream: Readable, limit: number, onOverflow: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        onOverflow();
        reject(new Error(`restic printed more than ${limit} bytes`));
        stream.destroy();
        return;
      }
      parts.push(chunk);
    });
    stream.once('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    stream.once('error', reject);
  });
}
