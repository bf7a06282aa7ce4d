import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import { ApiError } from '../../shared/errors.js';
import { hasRole } from '../../shared/roles.js';
import { ServerIdParams } from '../../shared/schemas.js';
import { NowQuery } from '../maintenance-windows/schemas.js';
import { BackupBody, IdempotencyHeaders, ScanBody, triggerResponse, UpdateBody } from '../../shared/trigger-schemas.js';
import { sendTrigger } from '../../shared/trigger-reply.js';
import { storedTargetId } from '../storage-targets/target-ref.js';

/** POST /api/servers/:serverId/backup|scan|update: validate, enqueue one job, answer 202 with its id. */
const triggers: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app) => {
  app.post(
    '/api/servers/:serverId/backup',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['triggers'],
        summary: 'Enqueue a backup (job backup:manual, priority HIGH)',
        params: ServerIdParams,
        headers: IdempotencyHeaders,
        body: BackupBody,
        response: triggerResponse('backupId'),
      },
    },
    async (request, reply) => {
      const backupId = randomUUID();
      const { serverId } = request.params;
      const { storageTargetId, ...options } = request.body;
      // An unknown target is a 400 before anything is enqueued; the worker resolves an absent one (server's, then default).
      if (storageTargetId !== undefined) await storedTargetId(app.db, storageTargetId);
      return sendTrigger(request, reply, {
        name: 'backup:manual',
        serverId,
        payload: { serverId, backupId, userId: request.user.id, options, isScheduled: false, ...(storageTargetId !== undefined ? { storageTargetId } : {}) },
        answer: { backupId, jobId: backupId, status: 'pending' },
      });
    },
  );

  app.post(
    '/api/servers/:serverId/scan',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['triggers'],
        summary: 'Enqueue a scan (job scan:full or scan:quick, priority NORMAL)',
        params: ServerIdParams,
        headers: IdempotencyHeaders,
        body: ScanBody,
        response: triggerResponse('scanId'),
      },
    },
    async (request, reply) => {
      const scanId = randomUUID();
      const { serverId } = request.params;
      return sendTrigger(request, reply, {
        name: request.body.scan_type === 'full' ? 'scan:full' : 'scan:quick',
        serverId,
        payload: { serverId, scanId, userId: request.user.id },
        answer: { scanId, jobId: scanId, status: 'pending' },
      });
    },
  );

  app.post(
    '/api/servers/:serverId/update',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['triggers'],
        summary: "Enqueue a package update (job update:server, priority CRITICAL); outside the server's maintenance windows it waits, delayed, until one opens (?now=true, admin: at once)",
        params: ServerIdParams,
        querystring: NowQuery,
        headers: IdempotencyHeaders,
        body: UpdateBody,
        response: triggerResponse('updateId'),
      },
    },
    async (request, reply) => {
      const updateId = randomUUID();
      const { serverId } = request.params;
      const now = request.query.now === true;
      if (now && !hasRole(request.user.role, 'admin')) throw new ApiError('FORBIDDEN', 'Updating now, past the maintenance windows (?now=true), needs the admin role.');
      return sendTrigger(request, reply, {
        name: 'update:server',
        serverId,
        payload: { serverId, updateId, userId: request.user.id, options: request.body, ...(now ? { ignoreMaintenanceWindows: true } : {}) },
        answer: { updateId, jobId: updateId, status: 'pending' },
      });
    },
  );
};

export default triggers;
