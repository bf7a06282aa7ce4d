import { randomUUID } from 'node:crypto';
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEnv } from '../../env.js';
import type { Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Backup, Db } from '@mm/db';
import { ApiError, conflict, notFound } from '../../shared/errors.js';
import { sendTrigger } from '../../shared/trigger-reply.js';
import { restoreNeedsAdmin } from '../../shared/restore-authority.js';
import { hasRole } from '../../shared/roles.js';
import { IdParams } from '../../shared/schemas.js';
import { IdempotencyHeaders } from '../../shared/trigger-schemas.js';
import { resolveProjectPath } from '@mm/config';
import { archiveFileName } from '@mm/restic';
import { findOpenable } from '../storage-targets/target-access.js';
import { findTarget } from '../storage-targets/repository.js';
import { findBackup, findListingEntry, hasEntriesUnder, listDirectory, serverName, type ListingEntry } from './repository.js';
import { DownloadQuery, DownloadResponse, FilesQuery, FilesResponse, RestoreAccepted, RestoreBody, VerifyAccepted } from './schemas.js';
import { openSnapshotStream } from './snapshot-stream.js';
import { isUnder, normalizeTarPath, tarMemberContent, tarSubtree } from './tar-subset.js';

/** A completed backup or the answer why not: unknown → 404, not completed (no file to act on) → 409. */
async function completedBackup(db: Db, id: string): Promise<Backup> {
  const backup = await findBackup(db, id);
  if (!backup) throw notFound(`Backup ${id}`);
  if (backup.status !== 'completed') throw conflict(`Backup ${id} is ${backup.status}; only a completed backup has a file.`);
  return backup;
}

/**
 * A completed archive backup's record outlives its file only when something outside the service removed it
 * (retention deletes the record first), or when this API process never saw the worker's folder at all.
 */
const fileMissing = (id: string, folder: ArchiveFolder) =>
  new ApiError(
    'NOT_FOUND',
    folder.targetName === null
      ? `The file of backup ${id} is not under BACKUP_DIR as this API process sees it (${folder.dir}): it was removed outside the service, or the backup worker that wrote it uses another BACKUP_DIR than this API (repository targets need no shared folder).`
      : `The file of backup ${id} is not in the folder of storage target '${folder.targetName}' as this API process sees it (${folder.dir}): it was removed outside the service, or that folder is not the same shared folder here as on the backup workers.`,
  );
const fileNeverReachable = (id: string, folder: ArchiveFolder) =>
  new ApiError(
    'NOT_FOUND',
    folder.targetName === null
      ? `The file of backup ${id} was never reachable from this API process: its BACKUP_DIR (${folder.dir}) does not exist here. Share the backup workers' BACKUP_DIR with the API, or store backups on a repository target.`
      : `The file of backup ${id} was never reachable from this API process: the folder of storage target '${folder.targetName}' (${folder.dir}) does not exist here. Mount it on the API host under the same path as on the backup workers.`,
  );

/** Where an archive backup's file lives as this process sees it: BACKUP_DIR, or a named archive target's folder. */
interface ArchiveFolder {
  dir: string;
  /** null: the default target (BACKUP_DIR). */
  targetName: string | null;
}

/** A path inside a backup as backup_files keeps it; a '..' segment is refused. */
function backupPath(raw: string | undefined): string {
  const path = normalizeTarPath(raw ?? '');
  if (path.split('/').includes('..')) throw new ApiError('VALIDATION_ERROR', "path must not contain a '..' segment.", [{ path: '/path', message: "has a '..' segment" }]);
  return path;
}

const encodeCursor = (name: string) => Buffer.from(name, 'utf8').toString('base64url');
function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** What `Content-Disposition` may carry without quoting trouble: the server's name reduced to [A-Za-z0-9._-]. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 100) || 'server';
}

/** POST /api/backups/:id/verify, POST /api/backups/:id/restore, GET|HEAD /api/backups/:id/download. */
const backupFiles: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  // The backup workers' BACKUP_DIR as this process sees it (shared volume), relative to the project root like theirs.
  const backupDir = resolveProjectPath(env.BACKUP_DIR);

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
      return sendTrigger(request, reply, {
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
      const { targetPath, paths } = request.body;
      if (paths) await assertPathsInBackup(backup, paths);
      request.auditDetails = { serverId, targetPath, backupServerId: backup.serverId, ...(paths ? { paths } : {}) };
      // Writing another server's files, or over `/`, is admin power (shared/restore-authority.ts).
      const needsAdmin = restoreNeedsAdmin({ backupServerId: backup.serverId, serverId, targetPath });
      if (needsAdmin && !hasRole(request.user.role, 'admin')) throw new ApiError('FORBIDDEN', needsAdmin);
      const restoreId = randomUUID();
      return sendTrigger(request, reply, {
        name: 'backup:restore',
        serverId,
        payload: { restoreId, backupId: backup.id, serverId, targetPath: request.body.targetPath, userId: request.user.id, ...(paths ? { paths } : {}) },
        answer: { jobId: restoreId, restoreId, backupId: backup.id, serverId, status: 'pending' },
      });
    },
  );

  const download = {
    url: '/api/backups/:id/download',
    exposeHeadRoute: false,
    // Audited although it reads: a backup's contents are as sensitive as the servers they came from.
    config: { auth: 'operator' as const, audit: true },
    schema: {
      tags: ['backups'],
      summary:
        'Stream a backup: an archive as stored (.tar[.gz][.enc]); a repository backup as its tar, read from the repository by the API, or with ?path= one file (its bytes) or folder (a tar). Content-Length where known; the whole tar with its sha256 (X-Checksum-SHA256, Repr-Digest); HEAD for the headers only',
      params: IdParams,
      querystring: DownloadQuery,
      response: DownloadResponse,
    },
  };
  // GET is the documented operation; HEAD (same auth, headers only) stays out of the OpenAPI document, whose
  // operations are what the role-table and hostile-input tests walk.
  app.route({ ...download, method: 'GET', handler: sendBackupFile });
  app.route({ ...download, method: 'HEAD', schema: { ...download.schema, hide: true }, handler: sendBackupFile });

  /**
   * A subset restore names only what the backup holds: a repository backup's listing (PostgreSQL, the repository is
   * not read), an archive's backup paths (its members are not listed; a path under them that the archive lacks fails
   * the job with tar's "not in backup"). 400 naming the paths otherwise; nothing is enqueued.
   */
  async function assertPathsInBackup(backup: Backup, paths: string[]): Promise<void> {
    const missing: string[] = [];
    for (const raw of paths) {
      const path = normalizeTarPath(raw);
      const inside =
        backup.engine === 'restic' && backup.filesCount !== null
          ? (await findListingEntry(app.db, backup.id, path)) !== null || (await hasEntriesUnder(app.db, backup.id, path))
          : backup.paths.some((root) => isUnder(path, normalizeTarPath(root)));
      if (path === '' || !inside) missing.push(raw);
    }
    if (missing.length) {
      throw new ApiError(
        'VALIDATION_ERROR',
        `Backup ${backup.id} does not hold ${missing.join(', ')}${backup.engine === 'restic' && backup.filesCount !== null ? ' (see GET /api/backups/:id/files)' : ` (its paths: ${backup.paths.join(', ')})`}.`,
        missing.map((p) => ({ path: `/paths/${paths.indexOf(p)}`, message: 'is not in the backup' })),
      );
    }
  }

  async function archiveFolderOf(backup: Backup): Promise<ArchiveFolder> {
    if (backup.storageTargetId === null) return { dir: backupDir, targetName: null };
    const row = await findTarget(app.db, backup.storageTargetId);
    // The foreign key keeps the row while the backup exists; a non-local one is not an archive folder.
    if (!row || row.engine !== 'archive' || row.location.type !== 'local') throw conflict(`Backup ${backup.id} is an archive on storage target ${backup.storageTargetId}, which is not an archive folder.`);
    return { dir: row.location.path, targetName: row.name };
  }

  async function sendBackupFile(request: FastifyRequest<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DownloadQuery> }>, reply: FastifyReply) {
    const backup = await completedBackup(app.db, request.params.id);
    if (backup.engine === 'restic') return sendFromRepository(request, reply, backup);
    if (request.query.path !== undefined) throw new ApiError('VALIDATION_ERROR', `Backup ${backup.id} is an archive: ?path= needs a repository backup; download the whole archive.`);
    const folder = await archiveFolderOf(backup);
    if (!backup.filePath || !backup.sha256 || backup.sizeBytes === null) throw fileMissing(backup.id, folder);
    // Symlinks resolved on both sides: a record (or a link in the folder) pointing outside its folder is never served.
    let real: string;
    try {
      real = await realpath(resolve(folder.dir, backup.filePath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!(await stat(folder.dir).catch(() => undefined))?.isDirectory()) throw fileNeverReachable(backup.id, folder);
        throw fileMissing(backup.id, folder);
      }
      throw err;
    }
    const root = await realpath(folder.dir).catch(() => folder.dir);
    const inside = relative(root, real);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      request.log.warn({ backupId: backup.id }, 'backup file path is outside its storage folder; not served');
      throw fileMissing(backup.id, folder);
    }
    const handle = await open(real, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw fileMissing(backup.id, folder);
      throw err;
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw fileMissing(backup.id, folder);
      if (info.size !== backup.sizeBytes) {
        throw conflict(`The stored file of backup ${backup.id} is ${info.size} bytes but its record says ${backup.sizeBytes}; verify the backup.`);
      }
      const name = await serverName(app.db, backup.serverId);
      const fileName = `${safeName(name ?? 'server')}-${archiveFileName(backup.id, backup)}`;
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

  /**
   * A repository backup, streamed by the API from its storage target (no shared disk): the whole tar with its
   * recorded size and sha256, or one file or folder of it (?path=), found in the listing first so a wrong path
   * is a 404 before restic is started.
   */
  async function sendFromRepository(
    request: FastifyRequest<{ Params: Static<typeof IdParams>; Querystring: Static<typeof DownloadQuery> }>,
    reply: FastifyReply,
    backup: Backup,
  ) {
    if (!backup.snapshotId || !backup.sha256) throw conflict(`Backup ${backup.id} has no snapshot recorded; it cannot be read back.`);
    const path = request.query.path === undefined ? '' : backupPath(request.query.path);
    let entry: ListingEntry | null = null;
    if (path !== '') {
      entry = await findListingEntry(app.db, backup.id, path);
      if (!entry && !(await hasEntriesUnder(app.db, backup.id, path))) throw notFound(`/${path} in backup ${backup.id}`);
    }
    const target = await findOpenable(app.db, env, backup.storageTargetId);
    if (!target) throw new ApiError('NOT_FOUND', `The storage target of backup ${backup.id} no longer exists.`);
    const base = `${safeName((await serverName(app.db, backup.serverId)) ?? 'server')}-${backup.id}`;
    const whole = path === '';
    const asFile = entry?.type === 'file';
    void reply.header('accept-ranges', 'none').header('cache-control', 'no-store');
    if (whole) {
      void reply
        .header('content-type', 'application/x-tar')
        .header('content-disposition', `attachment; filename="${base}.tar"`)
        .header('x-checksum-sha256', backup.sha256)
        .header('repr-digest', `sha-256=:${Buffer.from(backup.sha256, 'hex').toString('base64')}:`);
      if (backup.bytesRead !== null) void reply.header('content-length', String(backup.bytesRead));
    } else if (asFile && entry) {
      void reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${safeName(entry.name)}"`)
        .header('content-length', String(entry.size));
    } else {
      void reply.header('content-type', 'application/x-tar').header('content-disposition', `attachment; filename="${base}-${safeName(path.split('/').at(-1) ?? 'folder')}.tar"`);
    }
    request.logSummary = { msg: request.method === 'HEAD' ? 'backup download headers' : 'backup downloaded', fields: { backupId: backup.id, path: path || undefined, storageTargetId: backup.storageTargetId ?? 'default' } };
    if (request.method === 'HEAD') return reply.send();

    const snapshot = await openSnapshotStream(target, backup.snapshotId, backup.id);
    const body = whole ? snapshot.tar : asFile ? tarMemberContent(snapshot.tar, path, () => snapshot.stop()) : tarSubtree(snapshot.tar, path);
    // A client that goes away stops restic instead of leaving it to fill a pipe nobody reads.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) snapshot.stop();
    });
    snapshot.finished.catch((err: unknown) => {
      request.log.warn({ err, backupId: backup.id }, 'repository read failed during a download');
      body.destroy(err instanceof Error ? err : new Error(String(err)));
    });
    return reply.send(body);
  }

  app.get(
    '/api/backups/:id/files',
    {
      schema: {
        tags: ['backups'],
        summary: "One folder of a repository backup's file listing (name, type, size, mtime), from PostgreSQL without reading the repository; ?cursor= pages on",
        params: IdParams,
        querystring: FilesQuery,
        response: FilesResponse,
      },
    },
    async (request) => {
      const backup = await completedBackup(app.db, request.params.id);
      if (backup.filesCount === null) throw conflict(`Backup ${backup.id} has no stored file listing (archive backups list their files with verify).`);
      const path = backupPath(request.query.path);
      const { limit } = request.query;
      const rows = await listDirectory(app.db, backup.id, path, decodeCursor(request.query.cursor), limit + 1);
      if (rows.length === 0 && path !== '' && request.query.cursor === undefined) {
        const entry = await findListingEntry(app.db, backup.id, path);
        if (!entry) throw notFound(`/${path} in backup ${backup.id}`);
        if (entry.type !== 'dir') throw new ApiError('VALIDATION_ERROR', `/${path} in backup ${backup.id} is a ${entry.type}, not a folder; download it with ?path=.`);
      }
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        success: true as const,
        data: {
          path,
          entries: page.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime?.toISOString() ?? null })),
          nextCursor: rows.length > limit && last ? encodeCursor(last.name) : null,
        },
      };
    },
  );
};

export default backupFiles;
