import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type ServiceName = 'api' | 'backup-worker' | 'scan-worker' | 'update-worker' | 'fleet-worker';

const entry: Record<ServiceName, string> = {
  api: 'src/server.ts',
  'backup-worker': 'src/main.ts',
  'scan-worker': 'src/main.ts',
  'update-worker': 'src/main.ts',
  'fleet-worker': 'src/main.ts',
};

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  pid: number;
  /** Everything printed so far (pino JSON lines). */
  output(): string;
  /** Parsed pino lines whose `msg` equals `msg`. */
  logLines(msg: string): Record<string, unknown>[];
  exited: Promise<Exit>;
  running(): boolean;
  /** Sends `signal` (if still running) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

// Every process any test started, so a failing test still leaves nothing running.
const started = new Set<ServiceProcess>();
process.once('exit', () => {
  for (const service of started) if (service.running()) service.child.kill('SIGKILL');
});

/** Runs a service's real entry point with `tsx`, with exactly `env` (nothing of the runner's environment leaks in). */
export function spawnService(name: ServiceName, env: Record<string, string>): ServiceProcess {
  const cwd = fileURLToPath(new URL(`../../../services/${name}/`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', entry[name]], { cwd, env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const service: ServiceProcess = {
    name,
    child,
    pid: child.pid,
    output: () => output,
    logLines(msg) {
      return output.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          return parsed.msg === msg ? [parsed] : [];
        } catch {
          return [];
        }
      });
    },
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop(signal = 'SIGTERM') {
      if (service.running()) child.kill(signal);
      return exited;
    },
  };
  started.add(service);
  void exited.then(() => started.delete(service));
  return service;
}

/** SIGKILLs whatever is still running of `services` and waits for them. */
export async function killAll(services: Iterable<ServiceProcess>): Promise<void> {
  await Promise.all([...services].map((s) => s.stop('SIGKILL')));
}
