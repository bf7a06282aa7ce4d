import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import { Type } from '@sinclair/typebox';
import { encryptCredentials, type CredentialBinding, type Db, type ServerCredentials } from '@mm/db';
import { removeBackupScheduler } from '@mm/jobs';
import { ApiError, conflict, notFound } from '../../shared/errors.js';
import { toServerView } from './server-view.js';
import { findOpenRecord } from '@mm/records';
import { countBackupsOfServer, deleteServer, findServer, insertServer, listServers, scheduleIdsOfServer, updateServer } from './repository.js';
import { serverSummaries, type NextBackups } from './server-summary.js';
import { nextScheduledBackups } from './next-backups.js';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, IdParams, ok, okList, Pagination } from '../../shared/schemas.js';
import { selectorFromQuery, selectorQueryFields } from '../../shared/server-selector.js';
import { withWindowsUnchanged } from '../../shared/window-guard.js';
import { storedTargetId } from '../storage-targets/target-ref.js';
import { CreateServerBody, ServerView, UpdateServerBody, type ServerAuth } from './schemas.js';
import { assertHostAllowed, serverHostPolicy } from './host-check.js';
import { checkServerChange } from './server-change.js';
import { ServerSummary } from './summary-schemas.js';

// Jobs in these states still need the server: deleting it would fail them half-way.
const LIVE_STATES = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children']);

const serverFeature: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  const credentialsKey = env.CREDENTIALS_KEY;
  // When each server's next scheduled backup runs, for the summaries.
  const nextBackups: NextBackups = (serverIds) => nextScheduledBackups(app.db, serverIds);
  // No server may lead to loopback, link-local or metadata addresses, or to this deployment's Redis and PostgreSQL.
  const hostPolicy = serverHostPolicy(env);
  // Bound to the server's id, host, port and username (docs/SECURITY.md): moved under other values they do not decrypt.
  const encrypt = (auth: ServerAuth, binding: CredentialBinding) => encryptCredentials(auth as ServerCredentials, credentialsKey, binding);

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
      await assertHostAllowed(b.host, b.port ?? 22, hostPolicy);
      const storageTargetId = await storedTargetId(app.db, b.storageTargetId ?? null);
      const id = randomUUID();
      const row = await insertServer(app.db, {
        id,
        name: b.name,
        host: b.host,
        port: b.port ?? 22,
        username: b.username,
        authType: b.auth.type,
        credentials: encrypt(b.auth, { serverId: id, host: b.host, port: b.port ?? 22, username: b.username }),
        hostKeyFingerprint: b.hostKeyFingerprint ?? null,
        backupPaths: b.backupPaths ?? [],
        tags: b.tags ?? [],
        storageTargetId,
        createdBy: request.user.id,
      });
      request.log.info({ serverId: row.id }, 'server created');
      return reply.code(201).send({ success: true as const, data: toServerView(row) });
    },
  );

  app.get(
    '/api/servers',
    {
      schema: {
        tags: ['servers'],
        summary: 'List servers, newest first, optionally with a tag or the selector filters of POST /api/servers/select; each with its summary',
        querystring: Type.Object(
          { tag: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[^\\u0000]+$' })), ...selectorQueryFields, ...Pagination },
          { additionalProperties: false },
        ),
        response: { 200: okList(Type.Composite([ServerView, Type.Object({ summary: ServerSummary })])), ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const { tag, limit, offset } = request.query;
      const { rows, total } = await listServers(app.db, { tag, selector: selectorFromQuery(request.query), limit, offset });
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
      const row = await findServer(app.db, request.params.id);
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
        summary: 'Change a server; a new host, port or username needs fresh auth; host-key pins (and moving a pinned server) are admin-only',
        params: IdParams,
        body: UpdateServerBody,
        response: { 200: ok(ServerView), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const b = request.body;
      const current = await findServer(app.db, id);
      if (!current) throw notFound(`Server ${id}`);
      const { moved } = checkServerChange(current, b, request.user.role);
      if (moved) await assertHostAllowed(b.host ?? current.host, b.port ?? current.port, hostPolicy);
      const storageTargetId = b.storageTargetId === undefined ? undefined : await storedTargetId(app.db, b.storageTargetId);
      const windowFields = b.name !== undefined || b.tags !== undefined;
      const change = (db: Pick<Db, 'update'>) => updateServer(db, id, {
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.host !== undefined ? { host: b.host } : {}),
        ...(b.port !== undefined ? { port: b.port } : {}),
        ...(b.username !== undefined ? { username: b.username } : {}),
        ...(b.auth !== undefined ? { authType: b.auth.type, credentials: encrypt(b.auth, { serverId: id, host: b.host ?? current.host, port: b.port ?? current.port, username: b.username ?? current.username }) } : {}),
        // A different machine presents a different key: pinning the old one would fail every job.
        ...(b.hostKeyFingerprint !== undefined ? { hostKeyFingerprint: b.hostKeyFingerprint } : moved ? { hostKeyFingerprint: null } : {}),
        ...(b.backupPaths !== undefined ? { backupPaths: b.backupPaths } : {}),
        ...(b.tags !== undefined ? { tags: b.tags } : {}),
        ...(storageTargetId !== undefined ? { storageTargetId } : {}),
        updatedAt: new Date(),
      });
      // Name and tags are what maintenance windows select by: an operator may not move a server out of its windows.
      const row = windowFields ? await withWindowsUnchanged(app.db, id, request.user.role, change) : await change(app.db);
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
        summary:
          'Delete a server and its records; 409 while one of its jobs is queued or running, and 409 while it has backups unless deleteBackups=true (then 202: job backup:purge-server deletes the backups\' files, snapshots and records, then the server)',
        params: IdParams,
        querystring: Type.Object(
          { deleteBackups: Type.Optional(Type.Boolean({ description: 'also delete every backup of the server (archive files, restic snapshots, records) before the server' })) },
          { additionalProperties: false },
        ),
        response: {
          200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })),
          202: ok(Type.Object({ id: Type.String(), deleting: Type.Literal(true), jobId: Type.String() })),
          ...errors(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await findServer(app.db, id))) throw notFound(`Server ${id}`);
      const liveJob = await withQueue(app.queueBackend, () => findLiveJob(id));
      if (liveJob) throw conflict(`Server ${id} has a ${liveJob.state} job (${liveJob.jobId}); wait for it to finish or remove it first.`);
      // Any kind of record still open (a restore onto this server too): deleting would fail it half-way.
      const busy = await findOpenRecord(app.db, id);
      if (busy) throw conflict(`Server ${id} has a running job (${busy.id}); wait for it to finish first.`);
      const backupCount = await countBackupsOfServer(app.db, id);
      if (backupCount > 0) {
        // The cascade would drop the records and orphan the files; the API cannot delete them (read-only storage).
        if (request.query.deleteBackups !== true) {
          throw new ApiError(
            'CONFLICT',
            `Server ${id} has ${backupCount} backup${backupCount === 1 ? '' : 's'}; delete with ?deleteBackups=true to delete them (files and snapshots too) with the server.`,
            [{ path: '/deleteBackups', message: `${backupCount} backup${backupCount === 1 ? '' : 's'} would be deleted` }],
          );
        }
        // The server stays until the job has removed every backup: a failed purge leaves it, and what is left, visible.
        const purgeId = randomUUID();
        await withQueue(app.queueBackend, async () => {
          await app.serverJobs.add(id, 'backup', purgeId);
          await app.producer.enqueue('backup:purge-server', { purgeId, serverId: id, userId: request.user.id });
        });
        request.log.info({ serverId: id, jobId: purgeId, backups: backupCount }, 'server delete with its backups enqueued');
        return reply.code(202).send({ success: true as const, data: { id, deleting: true as const, jobId: purgeId } });
      }
      // The cascade deletes the server's backup schedules; their job schedulers go too (or at the next reconcile).
      const schedules = await scheduleIdsOfServer(app.db, id);
      await deleteServer(app.db, id);
      app.servers.forget(id);
      await withQueue(app.queueBackend, () => Promise.all(schedules.map((scheduleId) => removeBackupScheduler(app.producer.queue('backup'), scheduleId)))).catch((err: unknown) =>
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

export default serverFeature;
