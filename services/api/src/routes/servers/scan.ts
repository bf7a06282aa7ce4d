import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServerIdParams } from '../../schemas/common.js';
import { IdempotencyHeaders, ScanBody, triggerResponse } from '../../schemas/triggers.js';
import { trigger } from '../../domain/trigger.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
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
      return trigger(app, request, reply, {
        name: request.body.scan_type === 'full' ? 'scan:full' : 'scan:quick',
        serverId,
        payload: { serverId, scanId, userId: request.user.id },
        answer: { scanId, jobId: scanId, status: 'pending' },
      });
    },
  );
};

export default routes;
