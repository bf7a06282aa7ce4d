import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestSshd } from '@mm/testing';
import { msSince } from '../core/stats.js';

/** The cipher ssh2 negotiates with OpenSSH here; the baseline uses the same so neither side pays for a slower one. */
export const BASELINE_CIPHER = 'aes128-gcm@openssh.com';

/**
 * The system OpenSSH client as the ceiling for backup streaming, compared like with like: one connection opened
 * once and reused (ControlMaster, as the worker reuses its pooled ssh2 connection), the cipher ssh2 uses, and the
 * archive written by a shell redirect (`ssh … tar -cf - paths > file`), never through this Node process.
 */
export interface SystemSshTar {
  /** Runs `command` remotely over the shared connection, stdout redirected to `outFile`; wall time from spawn to exit. */
  run(command: string, outFile: string): Promise<{ ms: number; archiveBytes: number }>;
  close(): Promise<void>;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

/** Runs a short ssh command (control checks) and returns its exit code and stderr. */
async function ssh(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return { code: await exited(child), stderr };
}

/**
 * Opens the master connection (`ssh -M -N`, kept as this process's child) and waits until its control socket
 * answers. `keyFile` is the sshd's user key (mode 600: ssh refuses a readable key); `dir` a private temp folder.
 */
export async function openSystemSshTar(sshd: TestSshd, keyFile: string, dir: string): Promise<SystemSshTar> {
  const socket = join(dir, 'ssh-control');
  const common = [
    '-p', String(sshd.port),
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', `ControlPath=${socket}`,
    `${sshd.username}@${sshd.host}`,
  ];
  const master = spawn('ssh', ['-i', keyFile, '-M', '-N', '-o', `Ciphers=${BASELINE_CIPHER}`, '-o', 'Compression=no', ...common], { stdio: ['ignore', 'ignore', 'pipe'] });
  let masterErr = '';
  master.stderr?.on('data', (c: Buffer) => (masterErr += c.toString('utf8')));
  const masterExit = exited(master);
  for (let i = 0; ; i++) {
    if ((await ssh(['-O', 'check', ...common])).code === 0) break;
    if (master.exitCode !== null || i >= 100) {
      master.kill();
      throw new Error(`ssh master connection did not come up: ${masterErr.trim().slice(0, 300)}`);
    }
    await sleep(50);
  }
  return {
    async run(command, outFile) {
      const started = process.hrtime.bigint();
      // The redirect is the shell's: the archive goes from ssh's stdout straight into the file.
      const child = spawn('sh', ['-c', 'exec ssh -o ControlMaster=no "$@" > "$MM_BENCH_OUT"', 'sh', ...common, command], {
        env: { ...process.env, MM_BENCH_OUT: outFile },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const code = await exited(child);
      const ms = msSince(started);
      if (code !== 0) throw new Error(`ssh tar exited ${code}: ${stderr.trim().slice(0, 300)}`);
      return { ms, archiveBytes: (await stat(outFile)).size };
    },
    async close() {
      await ssh(['-O', 'exit', ...common]);
      if (master.exitCode === null) master.kill();
      await masterExit.catch(() => null);
    },
  };
}
