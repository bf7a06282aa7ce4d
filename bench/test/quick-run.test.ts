import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchRun } from '../src/core/results-file.js';
import { TSX_LOADER } from '../src/core/tsx.js';
import { scenarios } from '../src/scenario-list.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// Runs `pnpm bench --quick` once, as a user would, so the harness cannot rot unnoticed. Timings are not asserted.
describe('pnpm bench --quick', () => {
  let dir: string;
  let code: number | null;
  let stdout = '';
  let stderr = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mm-bench-test-'));
    const child = spawn(process.execPath, ['--import', TSX_LOADER, MAIN, '--quick', '--results-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
  }, 600_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 and prints a table naming every scenario', () => {
    expect(code, stderr.slice(-3_000)).toBe(0);
    for (const s of scenarios) expect(stdout).toContain(s.id);
  });

  it('writes one results JSON with every scenario measured or explicitly not available', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    // A quick run never replaces the committed latest.json.
    expect(files).toHaveLength(1);
    expect(files[0]).not.toBe('latest.json');
    const run = JSON.parse(await readFile(join(dir, files[0] as string), 'utf8')) as BenchRun;
    expect(run.mode).toBe('quick');
    expect(run.machine.nproc).toBeGreaterThan(0);
    expect(run.scenarios.map((s) => s.id)).toEqual(scenarios.map((s) => s.id));
    for (const s of run.scenarios) {
      if (!s.available) {
        expect(s.reason.length, s.id).toBeGreaterThan(0);
        expect(s.reason, s.id).not.toMatch(/^failed/);
        continue;
      }
      expect(s.metrics.length, s.id).toBeGreaterThan(0);
      for (const m of s.metrics) {
        // Latencies come in whole milliseconds (autocannon, BullMQ timestamps): a fast one's median can be 0 ms.
        // Every other figure (rates, bytes, µs of CPU, counts) must be positive.
        const measured = (v: number) => Number.isFinite(v) && (m.unit === 'ms' ? v >= 0 : v > 0);
        expect(measured(m.product.median), `${s.id}: ${m.name}`).toBe(true);
        if (m.baseline) expect(measured(m.baseline.median), `${s.id}: ${m.name} baseline`).toBe(true);
        if (m.target !== undefined) expect(typeof m.met, `${s.id}: ${m.name}`).toBe('boolean');
      }
    }
  });

  it('measures SSE fan-out with every event delivered, or names the missing route', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    const run = JSON.parse(await readFile(join(dir, files[0] as string), 'utf8')) as BenchRun;
    const fanOut = run.scenarios.find((s) => s.id === 'fan-out');
    if (!fanOut) throw new Error('no fan-out scenario in the results');
    if (!fanOut.available) {
      expect(fanOut.reason).toContain('/api/jobs/:id/events');
      return;
    }
    const delivered = fanOut.metrics.find((m) => m.name.startsWith('events delivered'));
    expect(delivered?.product.median).toBe(100);
  });
});
