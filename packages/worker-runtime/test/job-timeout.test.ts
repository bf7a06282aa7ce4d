import { describe, expect, it } from 'vitest';
import { catalog } from '@mm/jobs';
import { parseJobTimeouts, startJobTimer, timeoutMessage, timeoutOf } from '../src/job-timeout.js';

describe('JOB_TIMEOUTS_MS', () => {
  it('overrides the named jobs and leaves the others at the catalog default', () => {
    const timeouts = parseJobTimeouts(' backup:manual=600000 , scan:quick=30000');
    expect(timeouts).toEqual({ 'backup:manual': 600_000, 'scan:quick': 30_000 });
    expect(timeoutOf('backup:manual', timeouts)).toBe(600_000);
    expect(timeoutOf('scan:full', timeouts)).toBe(catalog['scan:full'].timeoutMs);
    expect(parseJobTimeouts('')).toEqual({});
  });

  it('refuses unknown names, bad numbers and repeats, naming the culprit', () => {
    expect(() => parseJobTimeouts('backup:manaul=1000')).toThrow(/unknown job name "backup:manaul"/);
    expect(() => parseJobTimeouts('scan:full=0')).toThrow(/scan:full needs whole milliseconds/);
    expect(() => parseJobTimeouts('scan:full=1.5')).toThrow(/scan:full/);
    expect(() => parseJobTimeouts('scan:full')).toThrow(/scan:full/);
    expect(() => parseJobTimeouts('scan:full=3000000000')).toThrow(/scan:full/);
    expect(() => parseJobTimeouts('scan:full=1000,scan:full=2000')).toThrow(/given twice/);
  });

  it('words the limit in seconds', () => {
    expect(timeoutMessage(6 * 3_600_000)).toBe('timed out after 21600 s');
    expect(timeoutMessage(1_500)).toBe('timed out after 1.5 s');
  });
});

describe('job timer', () => {
  it('aborts on expiry and says so', async () => {
    const timer = startJobTimer(undefined, 20);
    await new Promise<void>((resolve) => timer.signal.addEventListener('abort', () => resolve(), { once: true }));
    expect(timer.timedOut()).toBe(true);
    expect(timer.signal.reason).toBe('timed out after 0.02 s');
    timer.clear();
  });

  it('passes a cancel through with its reason, without calling it a timeout', () => {
    const cancel = new AbortController();
    const timer = startJobTimer(cancel.signal, 60_000);
    cancel.abort('by user 42');
    expect(timer.signal.aborted).toBe(true);
    expect(timer.signal.reason).toBe('by user 42');
    expect(timer.timedOut()).toBe(false);
    timer.clear();
  });
});
