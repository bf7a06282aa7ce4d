import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServerIdParams } from '../../schemas/common.js';
import { IdempotencyHeaders, UpdateBody, triggerResponse } from '../../schemas/triggers.js';
import { trigger } from '../../domain/trigger.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/servers/:serverId/update',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['triggers'],
        summary: 'Enqueue a package update (job update:server, priority CRITICAL)',
        params: ServerIdParams,
        headers: IdempotencyHeaders,
        body: UpdateBody,
        response: triggerResponse('updateId'),
      },
    },
    async (request, reply) => {
      const updateId = randomUUID();
      const { serverId } = request.params;
      return trigger(app, request, reply, {
        name: 'update:server',
        serverId,
        payload: { serverId, updateId, userId: request.user.id, options: request.body },
        answer: { updateId, jobId: updateId, status: 'pending' },
      });
    },
  );
};

export default routes;
