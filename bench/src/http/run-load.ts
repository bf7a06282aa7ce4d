import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-spec.js';

const CHILD = fileURLToPath(new URL('./load-child.js', import.meta.url));

/** Runs autocannon in a child process; rejects when any response was not 2xx, since such a rate measures the wrong path. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  child.stdin.end(JSON.stringify(spec));
  const code = await exited;
  if (code !== 0) throw new Error(`load generator exited with ${code}: ${stderr.trim().slice(0, 500)}`);
  const result = JSON.parse(stdout) as LoadResult;
  if (result.non2xx > 0 || result.errors > 0 || result.total === 0) {
    throw new Error(`load on ${spec.requests[0]?.method} ${spec.requests[0]?.path} got ${result.non2xx} non-2xx and ${result.errors} errors of ${result.total} (${JSON.stringify(result.statusCodes)})`);
  }
  return result;
}
