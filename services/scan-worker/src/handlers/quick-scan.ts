import { performance } from 'node:perf_hooks';
import { Value } from '@sinclair/typebox/value';
import { UnrecoverableError } from 'bullmq';
import { ScanProgress, type ScanPayload } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { QUICK_SCAN_SCRIPT, parseQuickScanOutput } from '../quick-scan/command.js';
import { QuickScanResult } from '../quick-scan/result-schema.js';
import { runGateCommand } from '../gate-command.js';
import { markServerSeen } from '../server-last-seen.js';
import { verifyServer } from '../verify-server.js';

const COMMAND_TIMEOUT_MS = 30_000;
/** Progress steps a record reader does not need: job.progress (events, SSE) only, no PostgreSQL write. */
const REDIS_ONLY = { record: false } as const;

/**
 * Is the server up? TCP connect time, a verified SSH session, `uname -a` and uptime.
 *
 * Every progress milestone (10/20/30/40/80/90/100) reaches job.progress; the record's progress column is
 * written only at execution start (40) and completion (100, with the result). Writes that do not depend on
 * each other share a round trip (docs/PERFORMANCE.md, "SSH overhead").
 */
export async function runQuickScan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<QuickScanResult> {
  const [, { server, session, tcpConnectMs, sshSessionMs }] = await Promise.all([
    ctx.progress(ScanProgress.STARTED, REDIS_ONLY),
    verifyServer(ctx, payload.serverId, 'quick'),
  ]);
  await Promise.all([ctx.progress(ScanProgress.SERVER_VERIFIED, REDIS_ONLY), ctx.record.start({ scanType: 'quick' })]);
  await ctx.progress(ScanProgress.RECORD_CREATED, REDIS_ONLY);
  await ctx.progress(ScanProgress.EXECUTION_STARTED);

  // ctx.output keeps lines in order and never rejects; the last line's write is awaited once, after the command.
  let output: Promise<void> = Promise.resolve();
  let channelOpenMs: number | undefined;
  const started = performance.now();
  const res = await session
    .exec(QUICK_SCAN_SCRIPT, {
      timeoutMs: COMMAND_TIMEOUT_MS,
      signal: ctx.signal,
      onStdoutLine: (line) => {
        output = ctx.output(line);
      },
      onStderrLine: (line) => {
        output = ctx.output(`stderr: ${line}`);
      },
      onChannelOpen: (ms) => {
        channelOpenMs = ms;
      },
    })
    .finally(() => output);
  const commandMs = performance.now() - started;
  const facts = parseQuickScanOutput(res.stdout);
  if (res.code !== 0 || facts.uname === null) {
    throw new Error(`quick scan command failed on ${server.name} (exit ${res.code ?? res.signal}): ${res.stderr.trim().slice(-300) || 'no output'}`);
  }
  await ctx.progress(ScanProgress.EXECUTION_FINISHED, REDIS_ONLY);

  // On a pooled connection no TCP probe was made: the SSH channel open on it is the round trip measured.
  const connectMs = tcpConnectMs ?? channelOpenMs ?? commandMs;
  const result: QuickScanResult = { online: true, tcpConnectMs: connectMs, sshSessionMs, commandMs, hostKeyFingerprint: session.hostKeyFingerprint, ...facts, uname: facts.uname };
  const problem = Value.Errors(QuickScanResult, result).First();
  // The handler builds the result, so a mismatch is a bug here, not a server problem: retrying would not help.
  if (problem) throw new UnrecoverableError(`quick scan result does not match its schema at ${problem.path}: ${problem.message}`);
  // A rollout's gate: the scan found the server up; its command decides too (nothing for an ordinary scan).
  await runGateCommand(payload, ctx, session, server.name);
  // Whole milliseconds, rounded up: a reachable server never shows 0 ms (loopback connects in well under 1 ms).
  const latencyMs = Math.max(1, Math.ceil(connectMs));
  // Progress 90, the server's last-seen and the completed record (typed columns and result) in the same round trip.
  await Promise.all([
    ctx.progress(ScanProgress.RESULTS_STORED, REDIS_ONLY),
    markServerSeen(ctx.db, server.id, { status: 'online', latencyMs }),
    ctx.record.complete({ online: true, latencyMs, result }),
  ]);
  await ctx.progress(ScanProgress.DONE, REDIS_ONLY);
  ctx.log.info({ serverId: server.id, latencyMs }, 'quick scan done: online');
  return result;
}
