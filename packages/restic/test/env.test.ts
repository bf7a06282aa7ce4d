import { describe, expect, it } from 'vitest';
import { resticBaseEnv } from '../src/env.js';

describe('resticBaseEnv', () => {
  it("passes only PATH, HOME, TMPDIR and the locale on to restic, never the worker's own secrets", () => {
    const env = resticBaseEnv({ PATH: '/usr/bin', HOME: '/var/lib/mm', TZ: 'UTC', DATABASE_URL: 'postgres://u:secret@db/mm', CREDENTIALS_KEY: 'ab'.repeat(32), RESTIC_PASSWORD: 'x' });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/var/lib/mm', TZ: 'UTC' });
  });

  it('reads this process when no environment is given', () => {
    expect(resticBaseEnv().PATH).toBe(process.env.PATH);
  });
});
