import { UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { fleetRuns } from '@mm/db';
import type { ScanPayload } from '@mm/jobs';
import { SshOutputLimitError, type SshSession } from '@mm/ssh';
import type { JobContext } from '@mm/worker-runtime';

// A health check, not a job: minutes at most. Its output goes to the job log, bounded like any command's.
const GATE_COMMAND_TIMEOUT_MS = 5 * 60_000;
const GATE_COMMAND_MAX_OUTPUT = 1024 * 1024;

/**
 * A rollout's gate command (issue #15), run after the gate scan found the server up: the command comes from the run's
 * stored rollout (`gateOfRun` is the run's id: the payload carries no command). Exit 0 passes; anything else fails the
 * scan, once, with the exit and the last output lines, and so the gate. The output is the server's: hostile, bounded.
 */
export async function runGateCommand(payload: ScanPayload, ctx: JobContext<'scan'>, session: SshSession, serverName: string): Promise<void> {
  if (!payload.gateOfRun) return;
  const [run] = await ctx.db.select({ rollout: fleetRuns.rollout }).from(fleetRuns).where(eq(fleetRuns.id, payload.gateOfRun)).limit(1);
  const command = (run?.rollout as { gate?: { command?: unknown } } | null | undefined)?.gate?.command;
  if (typeof command !== 'string') throw new UnrecoverableError(`gate of fleet run ${payload.gateOfRun}: the run or its gate command no longer exists`);
  await ctx.output(`$ ${command}`);
  let output: Promise<void> = Promise.resolve();
  const res = await session
    .exec(command, {
      timeoutMs: GATE_COMMAND_TIMEOUT_MS,
      maxOutputBytes: GATE_COMMAND_MAX_OUTPUT,
      signal: ctx.signal,
      onStdoutLine: (line) => {
        output = ctx.output(line);
      },
      onStderrLine: (line) => {
        output = ctx.output(`stderr: ${line}`);
      },
    })
    .catch((err: unknown) => {
      if (err instanceof SshOutputLimitError) throw new UnrecoverableError(`gate command on ${serverName} printed more than ${GATE_COMMAND_MAX_OUTPUT} bytes; stopped`);
      throw err;
    })
    .finally(() => output);
  if (res.code !== 0) {
    const tail = `${res.stdout}\n${res.stderr}`.trim().split('\n').slice(-3).join(' | ').slice(-300) || 'no output';
    throw new UnrecoverableError(`gate command on ${serverName} exited ${res.code ?? res.signal}: ${tail}`);
  }
  await ctx.output('gate command passed (exit 0)');
}
