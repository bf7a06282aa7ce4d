import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServerIdParams } from '../../schemas/common.js';
import { BackupBody, IdempotencyHeaders, triggerResponse } from '../../schemas/triggers.js';
import { trigger } from '../../domain/trigger.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
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
      return trigger(app, request, reply, {
        name: 'backup:manual',
        serverId,
        payload: { serverId, backupId, userId: request.user.id, options: request.body, isScheduled: false },
        answer: { backupId, jobId: backupId, status: 'pending' },
      });
    },
  );
};

export default routes;
