import { describe, expect, it } from 'vitest';
import { windowStateAt } from '../src/maintenance-windows.js';

const at = (iso: string) => new Date(iso);
const nightly = { cron: '0 3 * * *', timezone: 'UTC', durationMin: 60 };

describe('windowStateAt', () => {
  it('is open from each firing for durationMin minutes, and says when it closes', () => {
    expect(windowStateAt(nightly, at('2026-12-04T03:00:00.000Z'))).toEqual({ open: true, closesAt: at('2026-12-04T04:00:00.000Z'), nextOpenAt: at('2026-12-04T03:00:00.000Z') });
    expect(windowStateAt(nightly, at('2026-12-04T03:59:59.999Z'))).toMatchObject({ open: true, closesAt: at('2026-12-04T04:00:00.000Z') });
  });

  it('is closed at its end and before its start, and says when it opens next', () => {
    expect(windowStateAt(nightly, at('2026-12-04T04:00:00.000Z'))).toEqual({ open: false, closesAt: null, nextOpenAt: at('2026-12-05T03:00:00.000Z') });
    expect(windowStateAt(nightly, at('2026-12-04T02:59:59.999Z'))).toEqual({ open: false, closesAt: null, nextOpenAt: at('2026-12-04T03:00:00.000Z') });
  });

  it('reads the cron in its time zone (Berlin is UTC+1 in December, UTC+2 in July)', () => {
    const berlin = { cron: '0 22 * * 6', timezone: 'Europe/Berlin', durationMin: 120 };
    expect(windowStateAt(berlin, at('2026-12-05T21:30:00Z'))).toMatchObject({ open: true, closesAt: at('2026-12-05T23:00:00Z') });
    expect(windowStateAt(berlin, at('2026-12-05T23:00:00Z'))).toEqual({ open: false, closesAt: null, nextOpenAt: at('2026-12-12T21:00:00Z') });
    expect(windowStateAt(berlin, at('2026-07-04T20:00:00Z'))).toMatchObject({ open: true, closesAt: at('2026-07-04T22:00:00Z') });
  });

  it('chains openings that overlap into one window', () => {
    // At 01:00 and 01:30 for 45 minutes each: one window from 01:00 to 02:15.
    const w = { cron: '0,30 1 * * *', timezone: 'UTC', durationMin: 45 };
    expect(windowStateAt(w, at('2026-12-04T01:10:00Z'))).toMatchObject({ open: true, closesAt: at('2026-12-04T02:15:00Z') });
    // A window that never closes (fires every minute for 5) says so with a null closesAt.
    expect(windowStateAt({ cron: '* * * * *', timezone: 'UTC', durationMin: 5 }, at('2026-12-04T01:10:00Z'))).toMatchObject({ open: true, closesAt: null });
  });
});
