import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FeatureOptions } from '../shared/feature-options.js';
import health from './health/index.js';
import auth from './auth/index.js';
import users from './users/index.js';
import tokens from './tokens/index.js';
import servers from './servers/index.js';
import triggers from './triggers/index.js';
import records from './records/index.js';
import backups from './backups/index.js';
import history from './history/index.js';
import jobs from './jobs/index.js';
import schedules from './schedules/index.js';
import retention from './retention/index.js';
import maintenance from './maintenance/index.js';
import events from './events/index.js';
import queues from './queues/index.js';
import audit from './audit/index.js';
import webhooks from './webhooks/index.js';
import metrics from './metrics/index.js';
import storageTargets from './storage-targets/index.js';
import fleet from './fleet/index.js';
import maintenanceWindows from './maintenance-windows/index.js';
import packageHolds from './package-holds/index.js';
import web from './web/index.js';


/**
 * THE list of feature plugins, registered in this order after the infrastructure (app.ts). A new feature is a
 * folder under features/ and one line here. The order is the OpenAPI document's order of paths.
 */
export const features: ReadonlyArray<FastifyPluginAsyncTypebox<FeatureOptions>> = [
  health,
  auth,
  users,
  tokens,
  servers,
  triggers,
  records,
  backups,
  history,
  jobs,
  schedules,
  retention,
  maintenance,
  events,
  queues,
  audit,
  webhooks,
  metrics,
  storageTargets,
  fleet,
  maintenanceWindows,
  packageHolds,
  // Last: the dashboard's files at / (only the files it has; nothing under /api).
  web,
];
