import { randomBytes, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { encryptStorageTargetSecrets } from '@mm/db';
import type { FeatureOptions } from '../../shared/feature-options.js';
import { ApiError, conflict, notFound } from '../../shared/errors.js';
import { withQueue } from '../../shared/queue-guard.js';
import { openableDefault, openableRow, openRepository, repositoryOf, resticToApiError, type OpenableTarget } from './target-access.js';
import {
  archiveUsage,
  backupCounts,
  countBackups,
  deleteCheck,
  deleteTargetIfUnused,
  findTarget,
  findTargetByName,
  insertCheck,
  insertTarget,
  latestCheck,
  latestChecks,
  listTargets,
  type CheckRow,
  type TargetRow,
} from './repository.js';
import { targetHostPolicy, targetHostProblems } from './target-host-policy.js';
import { CreateTargetBody, locationSchemaProblems, responses, TargetIdParams, type TargetView } from './schemas.js';
import { joinLocation, locationProblems, publicLocation, splitLocation } from './target-location.js';

const STATS_TIMEOUT_MS = 20_000;

const checkView = (c: CheckRow | undefined): TargetView['lastCheck'] =>
  c
    ? { id: c.id, status: c.status, readDataSubset: c.readDataSubset, message: c.message, affectedBackupIds: c.affectedBackupIds, createdAt: c.createdAt.toISOString(), finishedAt: c.finishedAt?.toISOString() ?? null }
    : null;

/**
 * Storage targets (issue #14): where backups are stored. Admins create and delete them; everyone may list them;
 * secrets (repository password, keys) go in encrypted and never come out.
 */
const storageTargets: FastifyPluginAsyncTypebox<FeatureOptions> = async (app, { env }) => {
  // A BACKUP_REPOSITORY the API cannot read fails the start, not the first request.
  openableDefault(env);
  const hostPolicy = targetHostPolicy(env);

  const defaultView = (backupCount: number, check: CheckRow | undefined): TargetView => {
    const d = openableDefault(env);
    return {
      id: 'default',
      name: 'default',
      engine: d.engine,
      isDefault: true,
      repository: repositoryOf(d),
      location: publicLocation(splitLocation(d.location).stored),
      backupCount,
      lastCheck: checkView(check),
      createdAt: null,
    };
  };

  const rowView = (row: TargetRow, backupCount: number, check: CheckRow | undefined): TargetView => ({
    id: row.id,
    name: row.name,
    engine: row.engine,
    isDefault: false,
    repository: repositoryOf({ engine: row.engine, location: joinLocation(row.location, {}) }),
    location: publicLocation(row.location),
    backupCount,
    lastCheck: checkView(check),
    createdAt: row.createdAt.toISOString(),
  });

  app.post(
    '/api/storage-targets',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['storage-targets'],
        summary: 'Create a storage target; a restic target initialises its repository, or opens the one there with the given password',
        body: CreateTargetBody,
        response: responses.create,
      },
      // Before the schema: a union's own error says only "Expected union value", this names the field.
      preValidation: async (request) => {
        const body = request.body as { location?: unknown } | null | undefined;
        if (typeof body !== 'object' || body === null || !('location' in body)) return;
        const problems = locationSchemaProblems(body.location);
        if (problems.length) throw new ApiError('VALIDATION_ERROR', `location: ${problems.map((p) => `${p.path.slice('/location/'.length) || 'location'} ${p.message}`).join('; ')}.`, problems);
      },
    },
    async (request, reply) => {
      const { name, engine, location, password } = request.body;
      if (name.toLowerCase() === 'default') throw new ApiError('VALIDATION_ERROR', "'default' is the name of the environment's target (BACKUP_REPOSITORY).", [{ path: '/name', message: 'is reserved' }]);
      const problems = locationProblems(engine, location, { allowInsecureS3: env.STORAGE_ALLOW_INSECURE_S3 }, password);
      if (problems.length) throw new ApiError('VALIDATION_ERROR', `Storage target '${name}': ${problems.map((p) => `${p.path.replace('/location/', 'location.')} ${p.message}`).join('; ')}.`, problems);
      const hostProblems = await targetHostProblems(location, hostPolicy);
      if (hostProblems.length) throw new ApiError('VALIDATION_ERROR', `Storage target '${name}': ${hostProblems.map((p) => `${p.path.replace('/location/', 'location.')} ${p.message}`).join('; ')}.`, hostProblems);
      if (await findTargetByName(app.db, name)) throw conflict(`A storage target named '${name}' exists already.`);

      const { stored, secrets } = splitLocation(location);
      let repositoryState: 'created' | 'opened' | 'not-applicable' = 'not-applicable';
      if (engine === 'archive' && location.type === 'local') {
        // The API serves the archive downloads from this folder, so it must see it under the same path as the workers.
        const info = await stat(location.path).catch(() => undefined);
        if (!info?.isDirectory()) {
          throw new ApiError('VALIDATION_ERROR', `Storage target '${name}': location.path ${location.path} is not a folder on the API host; an archive target's folder must exist and be shared (same path) by the API and every backup worker.`, [
            { path: '/location/path', message: 'is not an existing folder on the API host' },
          ]);
        }
      }
      if (engine === 'restic') {
        secrets.repositoryPassword = password ?? randomBytes(32).toString('base64url');
        const target: OpenableTarget = { id: null, name, engine, location, password: secrets.repositoryPassword, secrets: Object.values(secrets).filter((v): v is string => typeof v === 'string') };
        const repository = openRepository(target);
        try {
          repositoryState = await repository.initOrOpen();
        } catch (err) {
          const apiError = resticToApiError(err, target);
          if (!apiError) throw err;
          request.log.warn({ targetName: name, code: apiError.code, msg: apiError.message }, 'storage target refused');
          throw apiError;
        } finally {
          await repository.close();
        }
      }
      const id = randomUUID();
      const row = await insertTarget(app.db, {
        id,
        name,
        engine,
        locationType: stored.type,
        location: stored,
        secrets: encryptStorageTargetSecrets(secrets, env.CREDENTIALS_KEY, id),
        createdBy: request.user.id,
      });
      if (!row) throw conflict(`A storage target named '${name}' exists already.`);
      request.logSummary = { msg: 'storage target created', fields: { storageTargetId: id, engine, type: stored.type, repositoryState } };
      return reply.code(201).send({ success: true as const, data: { ...rowView(row, 0, undefined), repositoryState } });
    },
  );

  app.get(
    '/api/storage-targets',
    {
      schema: { tags: ['storage-targets'], summary: 'Every storage target, the environment\'s `default` first; never a secret', response: responses.list },
    },
    async () => {
      const [rows, counts, checks] = await Promise.all([listTargets(app.db), backupCounts(app.db), latestChecks(app.db)]);
      return {
        success: true as const,
        data: [defaultView(counts.get(null) ?? 0, checks.get(null)), ...rows.map((r) => rowView(r, counts.get(r.id) ?? 0, checks.get(r.id)))],
      };
    },
  );

  app.get(
    '/api/storage-targets/:id',
    {
      schema: {
        tags: ['storage-targets'],
        summary: "One storage target with its repository's snapshot count and size (read from the repository now) and its last check",
        params: TargetIdParams,
        response: responses.get,
      },
    },
    async (request) => {
      const { id } = request.params;
      const row = id === 'default' ? undefined : await findTarget(app.db, id);
      if (id !== 'default' && !row) throw notFound(`Storage target ${id}`);
      const targetId = row?.id ?? null;
      const [backupCount, check] = await Promise.all([countBackups(app.db, targetId), latestCheck(app.db, targetId)]);
      const view = row ? rowView(row, backupCount, check) : defaultView(backupCount, check);
      // Re-checked on every read: DNS may have changed since the target was created (the default target is the operator's own).
      const refused = row ? await targetHostProblems(row.location, hostPolicy) : [];
      const stats = refused.length
        ? { snapshotCount: null, sizeBytes: null, statsError: `not read: ${refused.map((p) => p.message).join('; ')}` }
        : await repositoryStats(row ? openableRow(row, env) : openableDefault(env));
      return { success: true as const, data: { ...view, ...stats } };
    },
  );

  /** Snapshot count and size: restic asked now (bounded), the archive engine summed from its records. */
  async function repositoryStats(target: OpenableTarget): Promise<{ snapshotCount: number | null; sizeBytes: number | null; statsError: string | null }> {
    if (target.engine === 'archive') {
      const usage = await archiveUsage(app.db, target.id);
      return { snapshotCount: usage.files, sizeBytes: usage.bytes, statsError: null };
    }
    const repository = openRepository(target, 5_000);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the repository did not answer within ${STATS_TIMEOUT_MS / 1000} s`)), STATS_TIMEOUT_MS);
      });
      const stats = await Promise.race([repository.stats(), timeout]);
      return { snapshotCount: stats.snapshotsCount, sizeBytes: stats.totalSize, statsError: null };
    } catch (err) {
      const apiError = resticToApiError(err, target);
      return { snapshotCount: null, sizeBytes: null, statsError: apiError?.message ?? (err instanceof Error ? err.message : 'the repository could not be read') };
    } finally {
      clearTimeout(timer);
      await repository.close();
    }
  }

  app.delete(
    '/api/storage-targets/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['storage-targets'],
        summary: 'Delete a storage target (409 while backups, servers or schedules reference it); the repository itself is left as it is',
        params: TargetIdParams,
        response: responses.remove,
      },
    },
    async (request) => {
      const { id } = request.params;
      if (id === 'default') throw conflict("The default target comes from the environment (BACKUP_REPOSITORY) and cannot be deleted.");
      const result = await deleteTargetIfUnused(app.db, id);
      if (!result.deleted) {
        const { backups, servers, schedules } = result.blockers;
        if (backups + servers + schedules === 0) throw notFound(`Storage target ${id}`);
        const parts = [backups && `${backups} backup(s)`, servers && `${servers} server(s)`, schedules && `${schedules} schedule(s)`].filter(Boolean);
        throw conflict(`Storage target ${id} is still referenced by ${parts.join(', ')}; delete those backups or move those servers and schedules to another target first.`);
      }
      request.logSummary = { msg: 'storage target deleted', fields: { storageTargetId: id } };
      return { success: true as const, data: { id, deleted: true as const } };
    },
  );

  app.post(
    '/api/storage-targets/:id/check',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['storage-targets'],
        summary: 'Enqueue backup:check-target: `restic check --read-data-subset=n/t`, rotating so every pack is read once per t checks; the outcome is the target\'s lastCheck',
        params: TargetIdParams,
        response: responses.check,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const row = id === 'default' ? undefined : await findTarget(app.db, id);
      if (id !== 'default' && !row) throw notFound(`Storage target ${id}`);
      const engine = row?.engine ?? openableDefault(env).engine;
      if (engine !== 'restic') throw conflict(`Storage target ${id} uses the archive engine; verify its backups one by one (POST /api/backups/:id/verify).`);
      const checkId = randomUUID();
      await insertCheck(app.db, { id: checkId, storageTargetId: row?.id ?? null, requestedBy: request.user.id });
      try {
        await withQueue(app.queueBackend, () => app.producer.enqueue('backup:check-target', { checkId, storageTargetId: row?.id ?? 'default', userId: request.user.id }));
      } catch (err) {
        // Nothing was enqueued, so nothing will ever finish this row.
        await deleteCheck(app.db, checkId).catch(() => undefined);
        throw err;
      }
      request.logSummary = { msg: 'job enqueued', fields: { jobId: checkId, jobName: 'backup:check-target', storageTargetId: id } };
      return reply.code(202).send({ success: true as const, data: { jobId: checkId, checkId, storageTargetId: id, status: 'pending' as const } });
    },
  );
};

export default storageTargets;
