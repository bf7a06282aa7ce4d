import type { Role } from '../../shared/roles.js';
import { hashTokenSecret, isWellFormedToken } from './token-secret.js';

/** What a request needs to know about a valid token. */
export interface ActiveToken {
  id: string;
  userId: string;
  role: Role;
  expiresAt: Date | null;
}

export interface TokenVerifierOptions {
  /** The active (not revoked) token with this hash, or null. */
  find: (hash: string) => Promise<ActiveToken | null>;
  /** Records a use; called at most once per `touchIntervalMs` per token and process. */
  touch: (id: string) => Promise<void>;
  onTouchError: (err: unknown, id: string) => void;
  /** Backstop for a revocation message that never arrived (Redis restarted between publish and delivery). */
  ttlMs: number;
  touchIntervalMs: number;
  now?: () => number;
}

interface Entry {
  token: ActiveToken;
  expires: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Verified API tokens, keyed by the hash of the secret, so a client's repeated requests cost no query.
 * Revocation reaches every API process through `forget(id)` (driven by the Redis revocation channel); while that
 * channel is not connected the cache is bypassed (`caching = false`), so a revocation is never missed for long.
 */
export class TokenVerifier {
  private readonly entries = new Map<string, Entry>();
  private readonly hashById = new Map<string, string>();
  /** When each token's use was last written, kept apart from the cache so a bypassed cache does not write every time. */
  private readonly lastTouch = new Map<string, number>();
  private readonly now: () => number;
  /** False while revocations cannot be heard: every request then reads PostgreSQL. */
  caching = false;

  constructor(private readonly options: TokenVerifierOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The token behind a secret, or null when it is unknown, revoked or expired. */
  async verify(secret: string): Promise<ActiveToken | null> {
    if (!isWellFormedToken(secret)) return null;
    const hash = hashTokenSecret(secret);
    const now = this.now();
    let entry = this.entries.get(hash);
    if (!entry || entry.expires <= now || !this.caching) {
      const token = await this.options.find(hash);
      if (!token) {
        this.drop(hash);
        return null;
      }
      entry = { token, expires: now + this.options.ttlMs };
      if (this.caching) this.remember(hash, entry);
    }
    if (entry.token.expiresAt && entry.token.expiresAt.getTime() <= now) return null;
    const { token } = entry;
    if (now - (this.lastTouch.get(token.id) ?? -Infinity) >= this.options.touchIntervalMs) {
      if (this.lastTouch.size >= MAX_ENTRIES) this.lastTouch.clear();
      this.lastTouch.set(token.id, now);
      // Off the request path: a failed write costs one lastUsedAt update, not the request.
      this.options.touch(token.id).catch((err: unknown) => this.options.onTouchError(err, token.id));
    }
    return token;
  }

  /** Drops a revoked token, so its next use is checked against PostgreSQL. */
  forget(id: string): void {
    const hash = this.hashById.get(id);
    if (hash) this.drop(hash);
  }

  clear(): void {
    this.entries.clear();
    this.hashById.clear();
  }

  private remember(hash: string, entry: Entry): void {
    if (this.entries.size >= MAX_ENTRIES) this.clear();
    this.entries.set(hash, entry);
    this.hashById.set(entry.token.id, hash);
  }

  private drop(hash: string): void {
    const entry = this.entries.get(hash);
    this.entries.delete(hash);
    if (entry) this.hashById.delete(entry.token.id);
  }
}
