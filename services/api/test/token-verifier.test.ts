import { describe, expect, it } from 'vitest';
import { TokenVerifier, type ActiveToken } from '../src/features/tokens/token-verifier.js';
import { generateTokenSecret, hashTokenSecret } from '../src/features/tokens/token-secret.js';

/** A verifier over an in-memory table, counting lookups and touches, on a clock the test moves. */
function setup(tokens: Record<string, ActiveToken>) {
  let now = 1_000_000;
  const finds: string[] = [];
  const touches: string[] = [];
  const verifier = new TokenVerifier({
    find: async (hash) => {
      finds.push(hash);
      return tokens[hash] ?? null;
    },
    touch: async (id) => {
      touches.push(id);
    },
    onTouchError: () => {},
    ttlMs: 60_000,
    touchIntervalMs: 60_000,
    now: () => now,
  });
  verifier.caching = true;
  return { verifier, finds, touches, advance: (ms: number) => (now += ms), at: () => now };
}

describe('TokenVerifier', () => {
  const secret = generateTokenSecret();
  const token: ActiveToken = { id: 'tok-1', userId: 'user-1', role: 'operator', expiresAt: null };

  it('asks the table once per TTL and touches at most once per interval', async () => {
    const { verifier, finds, touches, advance } = setup({ [hashTokenSecret(secret)]: token });
    for (let i = 0; i < 5; i += 1) expect(await verifier.verify(secret)).toEqual(token);
    expect(finds).toHaveLength(1);
    expect(touches).toEqual(['tok-1']);
    advance(59_000);
    await verifier.verify(secret);
    expect(touches).toHaveLength(1);
    advance(2_000);
    await verifier.verify(secret);
    expect(finds).toHaveLength(2);
    expect(touches).toEqual(['tok-1', 'tok-1']);
  });

  it('forgets a revoked token at once, and reads the table every time while not caching', async () => {
    const table = { [hashTokenSecret(secret)]: token } as Record<string, ActiveToken>;
    const { verifier, finds } = setup(table);
    await verifier.verify(secret);
    delete table[hashTokenSecret(secret)];
    expect(await verifier.verify(secret)).toEqual(token);
    verifier.forget('tok-1');
    expect(await verifier.verify(secret)).toBeNull();
    table[hashTokenSecret(secret)] = token;
    verifier.caching = false;
    await verifier.verify(secret);
    await verifier.verify(secret);
    expect(finds).toHaveLength(4);
  });

  it('refuses an expired token even from the cache, and malformed secrets without a lookup', async () => {
    const { verifier, finds, at } = setup({});
    const expiring: ActiveToken = { ...token, expiresAt: new Date(at() + 1_000) };
    const withExpiry = setup({ [hashTokenSecret(secret)]: expiring });
    expect(await withExpiry.verifier.verify(secret)).toEqual(expiring);
    withExpiry.advance(1_000);
    expect(await withExpiry.verifier.verify(secret)).toBeNull();
    expect(withExpiry.finds).toHaveLength(1);
    for (const bad of ['mm_pat_', 'mm_pat_short', `${secret}=`, secret.replace('mm_pat_', 'mm_xat_')]) expect(await verifier.verify(bad)).toBeNull();
    expect(finds).toHaveLength(0);
  });
});
