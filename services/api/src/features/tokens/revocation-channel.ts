import type { Broadcast } from '@mm/jobs';
import type { TokenVerifier } from './token-verifier.js';

export interface RevocationLog {
  warn(obj: object, msg: string): void;
}

/**
 * Tells every API process that a token was revoked (the queue backend's broadcast: Redis pub/sub, or PostgreSQL
 * LISTEN/NOTIFY), so each drops it from its verifier at once. While the listener is not connected and listening,
 * messages could be missed: the verifier then bypasses its cache, and it starts empty again after every
 * (re)subscription.
 */
export class RevocationChannel {
  private readonly listener: { close(): Promise<void> };
  private closed = false;
  private markSubscribed: () => void = () => {};
  private readonly firstSubscription = new Promise<void>((resolve) => {
    this.markSubscribed = resolve;
  });

  constructor(
    private readonly broadcast: Broadcast,
    private readonly channel: string,
    private readonly verifier: TokenVerifier,
    private readonly log: RevocationLog,
  ) {
    this.listener = broadcast.listen(channel, {
      message: (id) => this.verifier.forget(id),
      up: () => {
        if (this.closed) return;
        // Anything cached before this point may have missed a revocation while disconnected.
        this.verifier.clear();
        this.verifier.caching = true;
        this.markSubscribed();
      },
      down: () => {
        this.verifier.caching = false;
      },
      error: (err) => this.log.warn({ err: { message: err.message } }, 'token revocation listener error'),
    });
  }

  /** Resolves once subscribed (or after `timeoutMs`, caching stays off until then). */
  async ready(timeoutMs = 3_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([this.firstSubscription, timeout]);
    clearTimeout(timer);
  }

  /** Announces a revocation; throws when the queue store cannot take it (the caller says so to the client). */
  async publish(id: string): Promise<void> {
    this.verifier.forget(id);
    await this.broadcast.publish(this.channel, id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.verifier.caching = false;
    await this.listener.close();
  }
}
