import { Value } from '@sinclair/typebox/value';
import { UnrecoverableError } from 'bullmq';
import { ScanProgress, type FullScanSummary, type ScanPayload } from '@mm/jobs';
import { createJobOutput, type JobContext } from '@mm/worker-runtime';
import { parseFullScanOutput } from '../full-scan/parse-output.js';
import { FullScanResult } from '../full-scan/result-schema.js';
import { FULL_SCAN_SCRIPT, FULL_SCAN_SECTIONS, SECTION_MARKER, type FullScanSection } from '../full-scan/script.js';
import { runGateCommand } from '../gate-command.js';
import { markServerSeen } from '../server-last-seen.js';
import { verifyServer } from '../verify-server.js';

// Package counts can take a while on a slow disk; still far below a stuck job.
const SCRIPT_TIMEOUT_MS = 180_000;

/** Section i of n moves progress from 40 (first section) to 80 (the end marker). */
function progressOfSection(section: FullScanSection): number {
  const index = FULL_SCAN_SECTIONS.indexOf(section);
  const span = ScanProgress.EXECUTION_FINISHED - ScanProgress.EXECUTION_STARTED;
  return ScanProgress.EXECUTION_STARTED + Math.round((span * index) / (FULL_SCAN_SECTIONS.length - 1));
}

/** Everything worth knowing about a server, gathered by one constant script in one round trip. */
export async function runFullScan(payload: ScanPayload, ctx: JobContext<'scan'>): Promise<FullScanSummary> {
  await ctx.progress(ScanProgress.STARTED);
  const { server, session } = await verifyServer(ctx, payload.serverId, 'full');
  await ctx.progress(ScanProgress.SERVER_VERIFIED);
  await ctx.record.start({ scanType: 'full' });
  await ctx.progress(ScanProgress.RECORD_CREATED);

  await ctx.progress(ScanProgress.EXECUTION_STARTED);
  const out = createJobOutput(ctx, ScanProgress.EXECUTION_STARTED);
  try {
    const res = await session.exec(FULL_SCAN_SCRIPT, {
      timeoutMs: SCRIPT_TIMEOUT_MS,
      signal: ctx.signal,
      onStdoutLine: (line) => {
        out.line(line);
        if (line.startsWith(SECTION_MARKER)) {
          const section = line.slice(SECTION_MARKER.length).trim();
          if ((FULL_SCAN_SECTIONS as readonly string[]).includes(section)) out.progress(progressOfSection(section as FullScanSection));
        }
      },
      onStderrLine: (line) => out.line(`stderr: ${line}`),
    });
    await out.flush();
    if (!res.stdout.includes(`${SECTION_MARKER}end`)) {
      throw new Error(`full scan script stopped early on ${server.name} (exit ${res.code ?? res.signal}): ${res.stderr.trim().slice(-300) || 'no output'}`);
    }
    // Normally already sent by the end marker; `out` drops the repeat.
    out.progress(ScanProgress.EXECUTION_FINISHED);
    await out.flush();

    const result = parseFullScanOutput(res.stdout, new Date());
    const problem = Value.Errors(FullScanResult, result).First();
    // The parser builds the result, so a schema mismatch is a bug here, not a server problem: retrying would not help.
    if (problem) throw new UnrecoverableError(`full scan result does not match its schema at ${problem.path}: ${problem.message}`);

    const facts = {
      upgradablePackages: result.packages?.upgradable ?? null,
      securityUpdates: result.packages?.security ?? null,
      rebootRequired: result.rebootRequired,
      criticalFindings: result.findings.filter((f) => f.severity === 'critical').length,
    };
    await markServerSeen(ctx.db, server.id, { status: 'online', os: result.os, facts });
    // A rollout's gate: after the scan's facts are kept, its command decides too (nothing for an ordinary scan).
    await runGateCommand(payload, ctx, session, server.name);
    // The typed column and the server's last-seen first (90); the full result lands with completion (100).
    await ctx.record.update({ online: true });
    await ctx.progress(ScanProgress.RESULTS_STORED);
    await ctx.record.complete({ online: true, result });
    await ctx.progress(ScanProgress.DONE);
    ctx.log.info({ serverId: server.id, findings: result.findings.length, notes: result.notes.length }, 'full scan done');
    // The critical findings are what the catalog's scan.critical_finding event carries.
    const critical = result.findings.filter((f) => f.severity === 'critical').map((f) => ({ code: f.code, message: f.message.slice(0, 500) }));
    return { findings: result.findings.length, notes: result.notes.length, critical };
  } finally {
    await out.flush().catch(() => {}); // a write error after a failed exec must not hide the exec's error
  }
}
