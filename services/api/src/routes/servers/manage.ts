import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { and, arrayContains, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { backupSchedules, backups, encryptCredentials, scans, servers, updates, type ServerCredentials } from '@mm/db';
import { removeBackupScheduler } from '@mm/jobs';
import { conflict, notFound } from '../../errors.js';
import { toServerView } from '../../domain/server-view.js';
import { serverSummaries, type NextBackups } from '../../domain/server-summary.js';
import { nextScheduledBackups } from '../../domain/backup-schedule-next.js';
import { withRedis } from '../../domain/redis-guard.js';
import { errors, IdParams, ok, okList, Pagination } from '../../schemas/common.js';
import { CreateServerBody, ServerView, UpdateServerBody, type ServerAuth } from '../../schemas/servers.js';
import { ServerSummary } from '../../schemas/summary.js';

export interface ServerRoutesOptions {
  credentialsKey: string;
  /** When each server's next scheduled backup runs, for the summaries; defaults to the backup_schedules table. */
  nextBackups?: NextBackups;
}

// Jobs in these states still need the server: deleting it would fail them half-way.
const LIVE_STATES = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children']);

const routes: FastifyPluginAsyncTypebox<ServerRoutesOptions> = async (app, options) => {
  const { credentialsKey } = options;
  const nextBackups: NextBackups = options.nextBackups ?? ((serverIds) => nextScheduledBackups(app.db, serverIds));
  const encrypt = (auth: ServerAuth) => encryptCredentials(auth as ServerCredentials, credentialsKey);

  app.post(
    '/api/servers',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['servers'],
        summary: 'Add a server; credentials are stored encrypted and never returned',
        body: CreateServerBody,
        response: { 201: ok(ServerView), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const [row] = await app.db
        .insert(servers)
        .values({
          name: b.name,
          host: b.host,
          port: b.port ?? 22,
          username: b.username,
          authType: b.auth.type,
          credentials: encrypt(b.auth),
          hostKeyFingerprint: b.hostKeyFingerprint ?? null,
          backupPaths: b.backupPaths ?? [],
          tags: b.tags ?? [],
          createdBy: request.user.id,
        })
        .returning();
      if (!row) throw new Error('insert returned no row');
      request.log.info({ serverId: row.id }, 'server created');
      return reply.code(201).send({ success: true as const, data: toServerView(row) });
    },
  );

  app.get(
    '/api/servers',
    {
      schema: {
        tags: ['servers'],
        summary: 'List servers, newest first, optionally with a tag; each with its summary',
        querystring: Type.Object({ tag: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[^\\u0000]+$' })), ...Pagination }, { additionalProperties: false }),
        response: { 200: okList(Type.Composite([ServerView, Type.Object({ summary: ServerSummary })])), ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const { tag, limit, offset } = request.query;
      const where: SQL | undefined = tag ? arrayContains(servers.tags, [tag]) : undefined;
      const [rows, [{ total } = { total: 0 }]] = await Promise.all([
        app.db.select().from(servers).where(where).orderBy(desc(servers.createdAt), desc(servers.id)).limit(limit).offset(offset),
        app.db.select({ total: sql<number>`count(*)::int` }).from(servers).where(where),
      ]);
      const summaries = await serverSummaries(app.db, rows.map((r) => r.id), nextBackups);
      // A server deleted between the two queries has no summary row: it leaves the page rather than show a made-up one.
      const data = rows.flatMap((r) => {
        const summary = summaries.get(r.id);
        return summary ? [{ ...toServerView(r), summary }] : [];
      });
      return { success: true as const, data, meta: { limit, offset, total } };
    },
  );

  app.get(
    '/api/servers/:id/summary',
    {
      schema: {
        tags: ['servers'],
        summary: "A server's last backup, scan and update, upgradable packages and next scheduled backup",
        params: IdParams,
        response: { 200: ok(ServerSummary), ...errors(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const summary = (await serverSummaries(app.db, [id], nextBackups)).get(id);
      if (!summary) throw notFound(`Server ${id}`);
      return { success: true as const, data: summary };
    },
  );

  app.get(
    '/api/servers/:id',
    {
      schema: { tags: ['servers'], summary: 'One server', params: IdParams, response: { 200: ok(ServerView), ...errors(400, 401, 404, 429, 503) } },
    },
    async (request) => {
      const [row] = await app.db.select().from(servers).where(eq(servers.id, request.params.id));
      if (!row) throw notFound(`Server ${request.params.id}`);
      return { success: true as const, data: toServerView(row) };
    },
  );

  app.patch(
    '/api/servers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['servers'],
        summary: 'Change a server; a new host or port forgets the pinned host key unless one is given',
        params: IdParams,
        body: UpdateServerBody,
        response: { 200: ok(ServerView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const b = request.body;
      const [current] = await app.db.select().from(servers).where(eq(servers.id, id));
      if (!current) throw notFound(`Server ${id}`);
      const moved = (b.host !== undefined && b.host !== current.host) || (b.port !== undefined && b.port !== current.port);
      const [row] = await app.db
        .update(servers)
        .set({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.host !== undefined ? { host: b.host } : {}),
          ...(b.port !== undefined ? { port: b.port } : {}),
          ...(b.username !== undefined ? { username: b.username } : {}),
          ...(b.auth !== undefined ? { authType: b.auth.type, credentials: encrypt(b.auth) } : {}),
          // A different machine presents a different key: pinning the old one would fail every job.
          ...(b.hostKeyFingerprint !== undefined ? { hostKeyFingerprint: b.hostKeyFingerprint } : moved ? { hostKeyFingerprint: null } : {}),
          ...(b.backupPaths !== undefined ? { backupPaths: b.backupPaths } : {}),
          ...(b.tags !== undefined ? { tags: b.tags } : {}),
          updatedAt: new Date(),
        })
        .where(eq(servers.id, id))
        .returning();
      if (!row) throw notFound(`Server ${id}`);
      request.log.info({ serverId: id, fields: Object.keys(b) }, 'server updated');
      return { success: true as const, data: toServerView(row) };
    },
  );

  app.delete(
    '/api/servers/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['servers'],
        summary: 'Delete a server and its records; 409 while one of its jobs is queued or running',
        params: IdParams,
        response: { 200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const [row] = await app.db.select({ id: servers.id }).from(servers).where(eq(servers.id, id));
      if (!row) throw notFound(`Server ${id}`);
      const liveJob = await withRedis(app.redis, () => findLiveJob(id));
      if (liveJob) throw conflict(`Server ${id} has a ${liveJob.state} job (${liveJob.jobId}); wait for it to finish or remove it first.`);
      const runningRecord = await Promise.all(
        [backups, scans, updates].map((t) =>
          app.db.select({ id: t.id }).from(t).where(and(eq(t.serverId, id), inArray(t.status, ['pending', 'running']))).limit(1),
        ),
      );
      const busy = runningRecord.flat()[0];
      if (busy) throw conflict(`Server ${id} has a running job (${busy.id}); wait for it to finish first.`);
      // The cascade deletes the server's backup schedules; their job schedulers go too (or at the next reconcile).
      const schedules = await app.db.select({ id: backupSchedules.id }).from(backupSchedules).where(eq(backupSchedules.serverId, id));
      await app.db.delete(servers).where(eq(servers.id, id));
      app.servers.forget(id);
      await withRedis(app.redis, () => Promise.all(schedules.map((s) => removeBackupScheduler(app.producer.queue('backup'), s.id)))).catch((err: unknown) =>
        request.log.warn({ err, serverId: id }, 'could not remove the server\'s backup schedulers; the reconciler will'),
      );
      await app.serverJobs.drop(id).catch((err: unknown) => request.log.warn({ err, serverId: id }, 'could not drop the server job index'));
      request.log.info({ serverId: id }, 'server deleted');
      return { success: true as const, data: { id, deleted: true as const } };
    },
  );

  async function findLiveJob(serverId: string): Promise<{ jobId: string; state: string } | null> {
    for (let start = 0; ; start += 100) {
      const entries = await app.serverJobs.page(serverId, start, 100);
      const states = await Promise.all(entries.map((e) => app.producer.queue(e.queue).getJobState(e.jobId)));
      const i = states.findIndex((s) => LIVE_STATES.has(s));
      if (i >= 0) return { jobId: (entries[i] as { jobId: string }).jobId, state: states[i] as string };
      if (entries.length < 100) return null;
    }
  }
};

export default routes;
