import { spawn } from 'node:child_process';

/** Runs a command to completion; rejects with its stderr tail when it exits non-zero. */
export async function runCommand(command: string, args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${stderr.trim().slice(-500)}`);
  return stdout;
}
