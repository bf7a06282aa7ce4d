import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

// Every server child this process started, so a crashed test run does not leave listeners behind.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ChildServer {
  child: ChildProcess;
  /** The first match of `listening` in the child's output. */
  match: RegExpExecArray;
  /** SIGTERM, then waits for the exit. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Spawns a server and resolves once its output (stdout and stderr together) matches `listening`;
 * rejects with that output if it exits first or stays silent for `timeoutMs`.
 */
export function startChildServer(
  command: string,
  args: string[],
  listening: RegExp,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<ChildServer> {
  const { timeoutMs = 30_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      running.delete(child);
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`${command} did not report listening within ${timeoutMs} ms: ${output.trim()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      if (settled) return;
      output += chunk.toString('utf8');
      const match = listening.exec(output);
      if (!match) return;
      settled = true;
      clearTimeout(timer);
      let stopping: Promise<void> | undefined;
      resolve({
        child,
        match,
        stop() {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              const exited = new Promise<void>((done) => child.once('exit', () => done()));
              child.kill('SIGTERM');
              await exited;
            }
            running.delete(child);
          })();
          return stopping;
        },
      });
    };
    // Keep draining both pipes for the child's whole life, so a chatty server never blocks on a full pipe.
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${command} exited before listening (code ${code}, signal ${signal}): ${output.trim()}`)));
  });
}
