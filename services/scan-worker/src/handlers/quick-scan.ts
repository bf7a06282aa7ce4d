import { performance } from 'node:perf_hooks';
import { Value } from '@sinclair/typebox/value';
import { UnrecoverableError } from 'bullmq';
import { ScanProgress, type ScanPayload } from '@mm/jobs';
import { createJobOutput, type JobContext } from '@mm/worker-runtime';
import { QUICK_SCAN_SCRIPT, parseQuickScanOutput } from '../quick-scan/command.js';
import { QuickScanResult } from '../quick-scan/result-schema.js';
import { markServerSeen } from '../server-last-seen.js';
import { verifyServer } from '../verify-server.js';

const COMMAND_TIMEOUT_MS = 30_000;

/** Is the server up? TCP connect time, a verified SSH session, `uname -a` and uptime. */
export async function quickScan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<QuickScanResult> {
  await ctx.progress(ScanProgress.STARTED);
  const { server, session, tcpConnectMs, sshSessionMs } = await verifyServer(ctx, payload.serverId, 'quick');
  await ctx.progress(ScanProgress.SERVER_VERIFIED);
  await ctx.record.start({ scanType: 'quick' });
  await ctx.progress(ScanProgress.RECORD_CREATED);

  await ctx.progress(ScanProgress.EXECUTION_STARTED);
  const out = createJobOutput(ctx, ScanProgress.EXECUTION_STARTED);
  const started = performance.now();
  try {
    const res = await session.exec(QUICK_SCAN_SCRIPT, {
      timeoutMs: COMMAND_TIMEOUT_MS,
      signal: ctx.signal,
      onStdoutLine: (line) => out.line(line),
      onStderrLine: (line) => out.line(`stderr: ${line}`),
    });
    const commandMs = performance.now() - started;
    await out.flush();
    const facts = parseQuickScanOutput(res.stdout);
    if (res.code !== 0 || facts.uname === null) {
      throw new Error(`quick scan command failed on ${server.name} (exit ${res.code ?? res.signal}): ${res.stderr.trim().slice(-300) || 'no output'}`);
    }
    await ctx.progress(ScanProgress.EXECUTION_FINISHED);

    const result: QuickScanResult = { online: true, tcpConnectMs, sshSessionMs, commandMs, hostKeyFingerprint: session.hostKeyFingerprint, ...facts, uname: facts.uname };
    const problem = Value.Errors(QuickScanResult, result).First();
    // The handler builds the result, so a mismatch is a bug here, not a server problem: retrying would not help.
    if (problem) throw new UnrecoverableError(`quick scan result does not match its schema at ${problem.path}: ${problem.message}`);
    // Whole milliseconds, rounded up: a reachable server never shows 0 ms (loopback connects in well under 1 ms).
    const latencyMs = Math.max(1, Math.ceil(tcpConnectMs));
    await markServerSeen(ctx.db, server.id, { status: 'online', latencyMs });
    // The typed columns and the server's last-seen first (90); the full result lands with completion (100).
    await ctx.record.update({ online: true, latencyMs });
    await ctx.progress(ScanProgress.RESULTS_STORED);
    await ctx.record.complete({ online: true, latencyMs, result });
    await ctx.progress(ScanProgress.DONE);
    ctx.log.info({ serverId: server.id, latencyMs }, 'quick scan done: online');
    return result;
  } finally {
    await out.flush().catch(() => {}); // a write error after a failed exec must not hide the exec's error
  }
}
