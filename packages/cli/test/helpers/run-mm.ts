import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BUNDLE = fileURLToPath(new URL('../../dist/mm.mjs', import.meta.url));

export interface MmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bundled `mm` (or `bin`) as a child process with only the given environment (plus PATH and HOME), and stdin if given. */
export function runMm(args: string[], env: Record<string, string>, stdin?: string, bin: string[] = [process.execPath, BUNDLE]): Promise<MmResult> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = bin as [string, ...string[]];
    const child = spawn(command, [...prefix, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}
