import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuOfProcesses, endedChildrenCpu } from '../src/core/process-cpu.js';

// The CPU account of the HTTP comparisons reads these: each must see CPU that was spent, and only that.

/** A child that spins for `ms` of CPU under its own command name, then exits; resolves once it has been waited for. */
function spin(ms: number, name = 'node'): { exited: Promise<void>; pid: number | undefined } {
  const child = spawn(process.execPath, ['-e', `process.title = ${JSON.stringify(name)}; const end = Date.now() + ${ms}; while (Date.now() < end);`], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  return { exited, pid: child.pid };
}

describe('process CPU readings', () => {
  it('counts an ended child once it has been waited for', async () => {
    const before = endedChildrenCpu();
    expect(before).toBeDefined();
    await spin(400).exited;
    const spent = (endedChildrenCpu() as number) - (before as number);
    // 10 ms ticks, and a loaded machine stretches wall time without adding CPU: at least most of the spin shows.
    expect(spent).toBeGreaterThanOrEqual(250_000);
    expect(spent).toBeLessThan(5_000_000);
  });

  it('counts the running processes of a name, and not the others', async () => {
    const name = `mmcpu${process.pid}`.slice(0, 15);
    expect(cpuOfProcesses([name])).toBe(0);
    const child = spin(1_500, name);
    // Read while it runs: /proc/<pid>/comm carries the title once the child has set it.
    let seen = 0;
    for (let i = 0; i < 40 && seen < 300_000; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = cpuOfProcesses([name]) ?? 0;
    }
    expect(seen).toBeGreaterThanOrEqual(300_000);
    expect(cpuOfProcesses(['no-such-process-name'])).toBe(0);
    await child.exited;
    // Ended: it drops out of the reading.
    expect(cpuOfProcesses([name])).toBe(0);
  });
});
