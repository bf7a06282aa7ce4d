import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { TestSshd } from '@mm/testing';
import { msSince } from '../core/stats.js';

/**
 * `ssh host tar -cf - paths > file` with the system OpenSSH client: the ceiling for backup streaming.
 * `keyFile` is the sshd's user key file (mode 600: ssh refuses a readable key); `command` the remote tar.
 */
export async function systemSshTar(sshd: TestSshd, keyFile: string, command: string, outFile: string): Promise<{ ms: number; archiveBytes: number }> {
  const args = [
    '-i', keyFile,
    '-p', String(sshd.port),
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    `${sshd.username}@${sshd.host}`,
    command,
  ];
  const started = process.hrtime.bigint();
  const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  await pipeline(child.stdout, createWriteStream(outFile));
  const code = await exited;
  const ms = msSince(started);
  if (code !== 0) throw new Error(`ssh tar exited ${code}: ${stderr.trim().slice(0, 300)}`);
  return { ms, archiveBytes: (await stat(outFile)).size };
}
