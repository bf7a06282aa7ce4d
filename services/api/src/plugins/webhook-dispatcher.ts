import fp from 'fastify-plugin';
import { WebhookDispatcher } from '../domain/webhook-dispatcher.js';
import type { WebhookUrlPolicy } from '../domain/webhook-url-guard.js';

declare module 'fastify' {
  interface FastifyInstance {
    webhookDispatcher: WebhookDispatcher;
    /** The SSRF guard's settings, shared by POST /api/webhooks and the dispatcher. */
    webhookPolicy: WebhookUrlPolicy;
  }
}

export interface WebhookDispatcherPluginOptions {
  credentialsKey: string;
  policy: WebhookUrlPolicy;
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  pollIntervalMs: number;
}

/** The outbox sender runs in the API process: the one process whose egress the operator already controls. */
export default fp<WebhookDispatcherPluginOptions>(
  async (app, opts) => {
    const dispatcher = new WebhookDispatcher({ ...opts, db: app.db, log: app.log.child({ component: 'webhooks' }) });
    app.decorate('webhookDispatcher', dispatcher);
    app.decorate('webhookPolicy', opts.policy);
    app.addHook('onReady', async () => {
      dispatcher.start();
    });
    app.addHook('onClose', async () => {
      await dispatcher.close();
    });
  },
  { name: 'webhook-dispatcher', dependencies: ['database'] },
);
