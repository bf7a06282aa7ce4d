/** How long a verified token is trusted without re-checking its signature (never past its `exp`). */
const TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Tokens whose signature and claims were verified, keyed by the token string itself: a client's repeated
 * requests skip the HMAC, base64 and JSON work. fast-jwt's own cache keys by a SHA of the token (as dear as
 * the HMAC), and a custom key makes it warn at start. Revocation does not rely on this: the user and the
 * role behind a token are re-read through UserCache (5 s).
 */
export class VerifiedTokens<P extends { exp?: number }> {
  private readonly entries = new Map<string, { payload: P; expires: number }>();

  constructor(private readonly verify: (token: string) => P) {}

  get(token: string): P {
    const now = Date.now();
    const hit = this.entries.get(token);
    if (hit && hit.expires > now) return hit.payload;
    const payload = this.verify(token);
    const expires = Math.min(now + TTL_MS, typeof payload.exp === 'number' ? payload.exp * 1_000 : Infinity);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(token, { payload, expires });
    return payload;
  }
}
