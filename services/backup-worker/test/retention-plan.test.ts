import { describe, expect, it } from 'vitest';
import { isoWeekKey, planRetention, type RetentionCandidate } from '../src/retention-plan.js';

let n = 0;
const at = (iso: string, status: RetentionCandidate['status'] = 'completed', baseBackupId: string | null = null): RetentionCandidate => {
  const d = new Date(iso);
  return { id: `b${++n}-${iso}`, status, baseBackupId, createdAt: d, finishedAt: status === 'running' || status === 'pending' ? null : d };
};
const rules = (r: Partial<{ keepLast: number; keepDaily: number; keepWeekly: number }>) => ({ keepLast: null, keepDaily: null, keepWeekly: null, ...r });

describe('isoWeekKey', () => {
  it.each([
    ['2026-01-01T12:00:00Z', '2026-W01'], // a Thursday
    ['2027-01-01T12:00:00Z', '2026-W53'], // a Friday: still the last week of 2026
    ['2024-12-30T00:00:00Z', '2025-W01'], // a Monday: first week of 2025
    ['2026-11-29T23:59:59Z', '2026-W48'], // a Sunday closes its week
    ['2026-11-30T00:00:00Z', '2026-W49'],
  ])('%s is in %s', (iso, week) => expect(isoWeekKey(new Date(iso))).toBe(week));
});

describe('planRetention', () => {
  it('keepLast keeps the newest N completed backups', () => {
    const rows = [at('2026-11-01T00:00:00Z'), at('2026-11-02T00:00:00Z'), at('2026-11-03T00:00:00Z'), at('2026-11-04T00:00:00Z')];
    expect(planRetention(rows, rules({ keepLast: 2 })).sort()).toEqual([rows[0]!.id, rows[1]!.id].sort());
  });

  it('keepDaily keeps the newest backup of each of the last N days that have one (UTC)', () => {
    const d1a = at('2026-11-01T08:00:00Z');
    const d1b = at('2026-11-01T23:30:00Z');
    const d2 = at('2026-11-03T10:00:00Z');
    const d3a = at('2026-11-05T01:00:00Z');
    const d3b = at('2026-11-05T02:00:00Z');
    expect(planRetention([d1a, d1b, d2, d3a, d3b], rules({ keepDaily: 2 })).sort()).toEqual([d1a.id, d1b.id, d3a.id].sort());
  });

  it('keepWeekly keeps the newest backup of each of the last N ISO weeks; rules add up', () => {
    const w1 = at('2026-11-02T10:00:00Z'); // Monday, W45
    const w1late = at('2026-11-08T10:00:00Z'); // Sunday, W45
    const w2 = at('2026-11-10T10:00:00Z'); // W46
    const w3 = at('2026-11-17T10:00:00Z'); // W47
    expect(planRetention([w1, w1late, w2, w3], rules({ keepWeekly: 2 })).sort()).toEqual([w1.id, w1late.id].sort());
    expect(planRetention([w1, w1late, w2, w3], rules({ keepWeekly: 2, keepLast: 3 }))).toEqual([w1.id]);
  });

  it('keeps the full base (and the whole chain) of a kept incremental', () => {
    const full = at('2026-11-01T00:00:00Z');
    const inc1 = at('2026-11-02T00:00:00Z', 'completed', full.id);
    const inc2 = at('2026-11-03T00:00:00Z', 'completed', inc1.id);
    const otherFull = at('2026-10-01T00:00:00Z');
    expect(planRetention([otherFull, full, inc1, inc2], rules({ keepLast: 1 }))).toEqual([otherFull.id]);
  });

  it('never deletes the only successful backup, and prunes failed records older than what it keeps', () => {
    const oldFailed = at('2026-10-01T00:00:00Z', 'failed');
    const only = at('2026-11-01T00:00:00Z');
    const newFailed = at('2026-11-02T00:00:00Z', 'cancelled');
    const running = at('2026-09-01T00:00:00Z', 'running');
    expect(planRetention([oldFailed, only, newFailed, running], rules({ keepDaily: 1 }))).toEqual([oldFailed.id]);
  });

  it('keeps the base chain of a running incremental', () => {
    const full = at('2026-10-01T00:00:00Z');
    const newest = at('2026-11-01T00:00:00Z');
    const running = at('2026-11-02T00:00:00Z', 'running', full.id);
    expect(planRetention([full, newest, running], rules({ keepLast: 1 }))).toEqual([]);
    expect(planRetention([full, newest], rules({ keepLast: 1 }))).toEqual([full.id]);
  });

  it('prunes nothing without a completed backup, and keeps protected ids with their bases', () => {
    expect(planRetention([at('2026-10-01T00:00:00Z', 'failed')], rules({ keepLast: 1 }))).toEqual([]);
    const full = at('2026-10-01T00:00:00Z');
    const inc = at('2026-10-02T00:00:00Z', 'completed', full.id);
    const newest = at('2026-11-01T00:00:00Z');
    expect(planRetention([full, inc, newest], rules({ keepLast: 1 }), new Set([inc.id]))).toEqual([]);
    expect(planRetention([full, inc, newest], rules({ keepLast: 1 })).sort()).toEqual([full.id, inc.id].sort());
  });
});
