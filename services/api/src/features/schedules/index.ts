import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import { Type } from '@sinclair/typebox';
import { notFound } from '../../shared/errors.js';
import { assertValidSchedule } from '../../shared/schedule-cron.js';
import { applySchedule } from './schedule-sync.js';
import { toScheduleView } from './schedule-view.js';
import { errors, IdParams, ok, okList } from '../../shared/schemas.js';
import { deleteSchedule, findSchedule, insertSchedule, listSchedules, updateSchedule } from './repository.js';
import { CreateScheduleBody, ScheduleParams, ScheduleView, UpdateScheduleBody } from './schemas.js';
import { storedTargetId } from '../storage-targets/target-ref.js';

/** Backup schedules: stored in PostgreSQL, each enabled one mirrored by a BullMQ job scheduler producing backup:scheduled jobs. */
const schedules: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  const minIntervalSeconds = env.SCHEDULE_MIN_INTERVAL_S;
  const backupQueue = () => app.producer.queue('backup');

  const requireServer = async (id: string) => {
    if (!(await app.servers.exists(id))) throw notFound(`Server ${id}`);
  };
  const requireSchedule = async (serverId: string, scheduleId: string) => {
    const row = await findSchedule(app.db, serverId, scheduleId);
    if (!row) throw notFound(`Backup schedule ${scheduleId}`);
    return row;
  };

  app.post(
    '/api/servers/:id/backup-schedules',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['backup-schedules'],
        summary: 'Create a backup schedule (a BullMQ job scheduler producing backup:scheduled jobs)',
        params: IdParams,
        body: CreateScheduleBody,
        response: { 201: ok(ScheduleView), ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id: serverId } = request.params;
      const { cron, timezone = 'UTC', options, enabled = true, rpoSeconds = null } = request.body;
      await requireServer(serverId);
      assertValidSchedule(cron, timezone, minIntervalSeconds);
      const storageTargetId = await storedTargetId(app.db, request.body.storageTargetId ?? null);
      const row = await insertSchedule(app.db, { serverId, cron, timezone, options, enabled, storageTargetId, rpoSeconds, createdBy: request.user.id });
      request.log.info({ serverId, scheduleId: row.id, cron, timezone, enabled }, 'backup schedule created');
      await applySchedule(app.queueBackend, backupQueue(), request.log, row.id, row);
      return reply.code(201).send({ success: true as const, data: toScheduleView(row) });
    },
  );

  app.get(
    '/api/servers/:id/backup-schedules',
    {
      schema: {
        tags: ['backup-schedules'],
        summary: "A server's backup schedules, oldest first, each with its next 5 run times",
        params: IdParams,
        response: { 200: okList(ScheduleView), ...errors(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id: serverId } = request.params;
      await requireServer(serverId);
      const rows = await listSchedules(app.db, serverId);
      const now = new Date();
      return { success: true as const, data: rows.map((r) => toScheduleView(r, now)), meta: { limit: rows.length, offset: 0, total: rows.length } };
    },
  );

  app.get(
    '/api/servers/:id/backup-schedules/:scheduleId',
    {
      schema: {
        tags: ['backup-schedules'],
        summary: 'One backup schedule with its next 5 run times',
        params: ScheduleParams,
        response: { 200: ok(ScheduleView), ...errors(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const row = await requireSchedule(request.params.id, request.params.scheduleId);
      return { success: true as const, data: toScheduleView(row) };
    },
  );

  app.patch(
    '/api/servers/:id/backup-schedules/:scheduleId',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['backup-schedules'],
        summary: 'Change a backup schedule; disabling it removes its job scheduler',
        params: ScheduleParams,
        body: UpdateScheduleBody,
        response: { 200: ok(ScheduleView), ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
      },
    },
    async (request) => {
      const { id: serverId, scheduleId } = request.params;
      const current = await requireSchedule(serverId, scheduleId);
      const next = { ...current, ...request.body };
      assertValidSchedule(next.cron, next.timezone, minIntervalSeconds);
      const storageTargetId = request.body.storageTargetId === undefined ? current.storageTargetId : await storedTargetId(app.db, request.body.storageTargetId);
      const row = await updateSchedule(app.db, serverId, scheduleId, {
        cron: next.cron,
        timezone: next.timezone,
        options: next.options,
        enabled: next.enabled,
        storageTargetId,
        rpoSeconds: next.rpoSeconds,
        updatedAt: new Date(),
      });
      if (!row) throw notFound(`Backup schedule ${scheduleId}`);
      request.log.info({ serverId, scheduleId, fields: Object.keys(request.body) }, 'backup schedule updated');
      await applySchedule(app.queueBackend, backupQueue(), request.log, scheduleId, row);
      return { success: true as const, data: toScheduleView(row) };
    },
  );

  app.delete(
    '/api/servers/:id/backup-schedules/:scheduleId',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['backup-schedules'],
        summary: 'Delete a backup schedule and its job scheduler (a run already started finishes)',
        params: ScheduleParams,
        response: { 200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id: serverId, scheduleId } = request.params;
      if (!(await deleteSchedule(app.db, serverId, scheduleId))) throw notFound(`Backup schedule ${scheduleId}`);
      request.log.info({ serverId, scheduleId }, 'backup schedule deleted');
      await applySchedule(app.queueBackend, backupQueue(), request.log, scheduleId, null);
      return { success: true as const, data: { id: scheduleId, deleted: true as const } };
    },
  );
};

export default schedules;
