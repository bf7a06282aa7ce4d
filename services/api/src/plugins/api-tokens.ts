import fp from 'fastify-plugin';
import { findActiveTokenByHash, touchToken } from '../features/tokens/repository.js';
import { RevocationChannel } from '../features/tokens/revocation-channel.js';
import { TokenVerifier, type ActiveToken } from '../features/tokens/token-verifier.js';

declare module 'fastify' {
  interface FastifyInstance {
    apiTokens: {
      /** The token behind an `mm_pat_…` secret, or null when it is unknown, revoked or expired. */
      verify(secret: string): Promise<ActiveToken | null>;
      /** Makes every API process drop a revoked token now (Redis pub/sub or PostgreSQL NOTIFY); throws when the queue store cannot take the message. */
      announceRevocation(id: string): Promise<void>;
    };
  }
}

export interface ApiTokensPluginOptions {
  /** How long a verified token is trusted without asking PostgreSQL, should a revocation message be lost. */
  cacheTtlMs: number;
}

/** The verified-API-token cache of this process and the channel that keeps it honest across processes. */
export default fp<ApiTokensPluginOptions>(
  async (app, { cacheTtlMs }) => {
    const verifier = new TokenVerifier({
      find: (hash) => findActiveTokenByHash(app.db, hash),
      touch: (id) => touchToken(app.db, id),
      onTouchError: (err, id) => app.log.warn({ err, tokenId: id }, 'api token lastUsedAt not written'),
      ttlMs: cacheTtlMs,
      touchIntervalMs: 60_000,
    });
    const channel = new RevocationChannel(app.queueBackend.broadcast, `${app.queuePrefix}:api-tokens:revoked`, verifier, app.log);
    app.decorate('apiTokens', {
      verify: (secret: string) => verifier.verify(secret),
      announceRevocation: (id: string) => channel.publish(id),
    });
    // Until subscribed the cache is bypassed, so serving before this resolves is correct, only slower.
    app.addHook('onReady', async () => {
      await channel.ready();
    });
    app.addHook('onClose', async () => {
      await channel.close();
    });
  },
  { name: 'api-tokens', dependencies: ['database', 'queues'] },
);
