import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { eq } from 'drizzle-orm';
import { servers, serverWindowsAt } from '@mm/db';
import { conflict, notFound } from '../../shared/errors.js';
import { assertValidSchedule } from '../../shared/schedule-cron.js';
import { errors, ok, ServerIdParams } from '../../shared/schemas.js';
import { countWindows, deleteWindow, findWindow, listWindows, upsertWindow } from './repository.js';
import { MAX_WINDOWS, ServerWindowsView, WindowBody, WindowNameParams, WindowView } from './schemas.js';

/**
 * Maintenance windows (issue #15): when the servers a selector matches may be updated. Admins manage them (they bound
 * what operators' updates may do, so an operator may not move them); everyone may read them. The update worker and
 * the fleet worker honour them (@mm/db maintenance-windows.ts); `?now=true` on an update trigger or a fleet run (admin)
 * overrides them.
 */
const maintenanceWindows: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/maintenance-windows',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['maintenance windows'],
        summary: 'Every maintenance window, by name, with whether it is open now, when it closes or opens next, and how many servers it selects',
        response: { 200: ok(Type.Array(WindowView)), ...errors(401, 403, 429, 503) },
      },
    },
    async () => ({ success: true as const, data: await listWindows(app.db) }),
  );

  app.get(
    '/api/maintenance-windows/:name',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['maintenance windows'],
        summary: 'One maintenance window',
        params: WindowNameParams,
        response: { 200: ok(WindowView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const view = await findWindow(app.db, request.params.name);
      if (!view) throw notFound(`Maintenance window ${request.params.name}`);
      return { success: true as const, data: view };
    },
  );

  app.put(
    '/api/maintenance-windows/:name',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['maintenance windows'],
        summary: 'Create or replace a maintenance window: from each time `cron` fires, for `durationMin` minutes, the servers `selector` matches may be updated',
        params: WindowNameParams,
        body: WindowBody,
        response: { 200: ok(WindowView), 201: ok(WindowView), ...errors(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const { cron, durationMin, selector, timezone = 'UTC' } = request.body;
      assertValidSchedule(cron, timezone, 0);
      if (!(await findWindow(app.db, name)) && (await countWindows(app.db)) >= MAX_WINDOWS) {
        throw conflict(`There are already ${MAX_WINDOWS} maintenance windows, the most an installation keeps; widen one's selector instead.`);
      }
      const { view, created } = await upsertWindow(app.db, { name, cron, durationMin, timezone, selector, userId: request.user.id });
      request.log.info({ window: name, cron, timezone, durationMin, created }, 'maintenance window saved');
      return reply.code(created ? 201 : 200).send({ success: true as const, data: view });
    },
  );

  app.delete(
    '/api/maintenance-windows/:name',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['maintenance windows'],
        summary: 'Delete a maintenance window (its servers, if no other window selects them, may then be updated at any time)',
        params: WindowNameParams,
        response: { 200: ok(Type.Object({ name: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!(await deleteWindow(app.db, name))) throw notFound(`Maintenance window ${name}`);
      request.log.info({ window: name }, 'maintenance window deleted');
      return { success: true as const, data: { name, deleted: true as const } };
    },
  );

  app.get(
    '/api/servers/:serverId/maintenance-windows',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['maintenance windows'],
        summary: "A server's maintenance windows: whether an update may start on it now, and if not, when",
        params: ServerIdParams,
        response: { 200: ok(ServerWindowsView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { serverId } = request.params;
      const [server] = await app.db.select({ id: servers.id }).from(servers).where(eq(servers.id, serverId));
      if (!server) throw notFound(`Server ${serverId}`);
      const state = (await serverWindowsAt(app.db, [serverId])).get(serverId);
      return {
        success: true as const,
        data: {
          serverId,
          restricted: state !== undefined,
          updatableNow: state?.open ?? true,
          windows: state?.windows ?? [],
          closesAt: state?.open ? (state.closesAt?.toISOString() ?? null) : null,
          nextOpenAt: state && !state.open ? (state.nextOpenAt?.toISOString() ?? null) : null,
        },
      };
    },
  );
};

export default maintenanceWindows;
