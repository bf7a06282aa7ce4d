import type { TestSshd } from '@mm/testing';
import { run } from './files.js';

async function pids(args: string[]): Promise<number[]> {
  const { stdout } = await run('pgrep', args).catch((err: { code?: number; stdout?: string }) => {
    // pgrep exits 1 when nothing matches.
    if (err.code === 1) return { stdout: '' };
    throw err;
  });
  return stdout.split('\n').filter(Boolean).map(Number);
}

async function descendants(pid: number): Promise<number[]> {
  const children = await pids(['-P', String(pid)]);
  return [...children, ...(await Promise.all(children.map(descendants))).flat()];
}

async function commandName(pid: number): Promise<string> {
  const { stdout } = await run('ps', ['-o', 'comm=', '-p', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout.trim();
}

/**
 * SIGKILLs the per-connection sshd processes of THIS fixture's sshd only (descendants of its listener, found
 * by its own config path): the privileged monitor and the unprivileged child that holds the socket, so every
 * SSH connection it serves drops as on a network failure. The remote commands are left to die of it.
 * Returns how many processes it killed.
 */
export async function dropSshConnections(sshd: TestSshd): Promise<number> {
  const [listener] = await pids(['-f', '--', `-f ${sshd.dir}/sshd_config`]);
  if (!listener) throw new Error(`no sshd listening with config ${sshd.dir}/sshd_config`);
  const sessionProcesses: number[] = [];
  for (const pid of await descendants(listener)) if ((await commandName(pid)).startsWith('sshd')) sessionProcesses.push(pid);
  for (const pid of sessionProcesses) process.kill(pid, 'SIGKILL');
  return sessionProcesses.length;
}
