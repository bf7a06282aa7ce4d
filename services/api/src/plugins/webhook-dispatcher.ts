import fp from 'fastify-plugin';
import { WebhookDispatcher, type WebhookDispatcherOptions } from '../features/webhooks/webhook-dispatcher.js';
import type { PublicUrlPolicy } from '@mm/outbound-http';

declare module 'fastify' {
  interface FastifyInstance {
    webhookDispatcher: WebhookDispatcher;
    /** The SSRF guard's settings, shared by POST /api/webhooks and the dispatcher. */
    webhookPolicy: PublicUrlPolicy;
  }
}

/** The dispatcher's settings; the database and logger come from the app. */
export type WebhookDispatcherPluginOptions = Omit<WebhookDispatcherOptions, 'db' | 'log'>;

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
