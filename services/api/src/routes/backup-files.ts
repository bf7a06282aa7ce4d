import { randomUUID } from 'node:crypto';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { eq } from 'drizzle-orm';
import { backups, servers, type Backup } from '@mm/db';
import { ApiError, conflict, notFound } from '../errors.js';
import { trigger } from '../domain/trigger.js';
import { IdParams } from '../schemas/common.js';
import { IdempotencyHeaders } from '../schemas/triggers.js';
import { DownloadResponse, RestoreAccepted, RestoreBody, VerifyAccepted } from '../schemas/backup-files.js';

export interface BackupFileRoutesOptions {
  /** The backup workers' BACKUP_DIR as this process sees it (shared volume). */
  backupDir: string;
}

/** A completed backup or the answer why not: unknown → 404, not completed (no file to act on) → 409. */
async function completedBackup(db: Parameters<FastifyPluginAsyncTypebox>[0]['db'], id: string): Promise<Backup> {
  const [backup] = await db.select().from(backups).where(eq(backups.id, id));
  if (!backup) throw notFound(`Backup ${id}`);
  if (backup.status !== 'completed') throw conflict(`Backup ${id} is ${backup.status}; only a completed backup has a file.`);
  return backup;
}

const fileGone = (id: string) => new ApiError('NOT_FOUND', `The file of backup ${id} is no longer stored (pruned or removed).`);

/** What `Content-Disposition` may carry without quoting trouble: the server's name reduced to [A-Za-z0-9._-]. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 100) || 'server';
}

/** POST /api/backups/:id/verify, POST /api/backups/:id/restore, GET|HEAD /api/backups/:id/download. */
const routes: FastifyPluginAsyncTypebox<BackupFileRoutesOptions> = async (app, opts) => {
  const backupDir = resolve(opts.backupDir);

  app.post(
    '/api/backups/:id/verify',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['backups'],
        summary: 'Enqueue backup:verify: re-read the stored file, check its sha256, test-decrypt and test-list it; the outcome lands on the backup (verify* fields)',
        params: IdParams,
        headers: IdempotencyHeaders,
        response: VerifyAccepted,
      },
    },
    async (request, reply) => {
      const backup = await completedBackup(app.db, request.params.id);
      const verifyId = randomUUID();
      return trigger(app, request, reply, {
        name: 'backup:verify',
        serverId: backup.serverId,
        payload: { verifyId, backupId: backup.id, userId: request.user.id },
        answer: { jobId: verifyId, backupId: backup.id, status: 'pending' },
      });
    },
  );

  app.post(
    '/api/backups/:id/restore',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['backups'],
        summary: "Enqueue backup:restore: stream the backup (with its chain) over SSH and extract it under targetPath on the server (default: the backup's own)",
        params: IdParams,
        headers: IdempotencyHeaders,
        body: RestoreBody,
        response: RestoreAccepted,
      },
    },
    async (request, reply) => {
      const backup = await completedBackup(app.db, request.params.id);
      const serverId = request.body.serverId ?? backup.serverId;
      const restoreId = randomUUID();
      return trigger(app, request, reply, {
        name: 'backup:restore',
        serverId,
        payload: { restoreId, backupId: backup.id, serverId, targetPath: request.body.targetPath, userId: request.user.id },
        answer: { jobId: restoreId, restoreId, backupId: backup.id, serverId, status: 'pending' },
      });
    },
  );

  const download = {
    url: '/api/backups/:id/download',
    exposeHeadRoute: false,
    config: { auth: 'operator' as const },
    schema: {
      tags: ['backups'],
      summary: 'Stream the stored backup file (as stored: .tar[.gz][.enc]) with Content-Length and its sha256 (X-Checksum-SHA256, Repr-Digest); HEAD for the headers only',
      params: IdParams,
      response: DownloadResponse,
    },
  };
  // GET is the documented operation; HEAD (same auth, headers only) stays out of the OpenAPI document, whose
  // operations are what the role-table and hostile-input tests walk.
  app.route({ ...download, method: 'GET', handler: sendBackupFile });
  app.route({ ...download, method: 'HEAD', schema: { ...download.schema, hide: true }, handler: sendBackupFile });

  async function sendBackupFile(request: FastifyRequest<{ Params: Static<typeof IdParams> }>, reply: FastifyReply) {
    const backup = await completedBackup(app.db, request.params.id);
    if (!backup.filePath || !backup.sha256 || backup.sizeBytes === null) throw fileGone(backup.id);
    // Symlinks resolved on both sides: a record (or a link in the folder) pointing outside BACKUP_DIR is never served.
    let real: string;
    try {
      real = await realpath(resolve(backupDir, backup.filePath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw fileGone(backup.id);
      throw err;
    }
    const root = await realpath(backupDir).catch(() => backupDir);
    const inside = relative(root, real);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      request.log.warn({ backupId: backup.id }, 'backup file path is outside BACKUP_DIR; not served');
      throw fileGone(backup.id);
    }
    const handle = await open(real, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw fileGone(backup.id);
      throw err;
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw fileGone(backup.id);
      if (info.size !== backup.sizeBytes) {
        throw conflict(`The stored file of backup ${backup.id} is ${info.size} bytes but its record says ${backup.sizeBytes}; verify the backup.`);
      }
      const [server] = await app.db.select({ name: servers.name }).from(servers).where(eq(servers.id, backup.serverId));
      const fileName = `${safeName(server?.name ?? 'server')}-${backup.id}.tar${backup.compression ? '.gz' : ''}${backup.encryption ? '.enc' : ''}`;
      void reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(info.size))
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .header('x-checksum-sha256', backup.sha256)
        .header('repr-digest', `sha-256=:${Buffer.from(backup.sha256, 'hex').toString('base64')}:`)
        .header('accept-ranges', 'none')
        .header('cache-control', 'no-store');
      request.logSummary = { msg: request.method === 'HEAD' ? 'backup download headers' : 'backup downloaded', fields: { backupId: backup.id, bytes: info.size } };
      if (request.method === 'HEAD') {
        await handle.close();
        return reply.send();
      }
      // The stream owns the handle from here and closes it when done or aborted.
      return reply.send(handle.createReadStream());
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }
};

export default routes;
