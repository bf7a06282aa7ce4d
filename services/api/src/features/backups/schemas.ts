import { Type } from '@sinclair/typebox';
import { RESTORE_TARGET_PATTERN, RestorePaths } from '@mm/jobs';
import { errors, ok, Uuid } from '../../shared/schemas.js';

export const VerifyAccepted = {
  202: ok(Type.Object({ jobId: Uuid, backupId: Uuid, status: Type.Literal('pending') })),
  ...errors(400, 401, 403, 404, 409, 429, 503),
};

export const RestoreBody = Type.Object(
  {
    targetPath: Type.String({
      minLength: 1,
      maxLength: 4_096,
      pattern: RESTORE_TARGET_PATTERN,
      description: "absolute folder on the server, no '..' segment, no NUL/newline; files land at <targetPath>/<original path>; '/' restores in place",
    }),
    serverId: Type.Optional(Uuid),
    paths: Type.Optional({
      ...RestorePaths,
      description:
        "only these files or folders (absolute, as backed up: '/etc/nginx', '/srv/www/index.html'); a folder brings everything under it. Each must be in the backup (a repository backup: in its listing; an archive: under its backup paths), else 400. Absent: the whole backup",
    }),
  },
  { additionalProperties: false },
);

export const RestoreAccepted = {
  202: ok(Type.Object({ jobId: Uuid, restoreId: Uuid, backupId: Uuid, serverId: Uuid, status: Type.Literal('pending') })),
  ...errors(400, 401, 403, 404, 409, 413, 415, 429, 503),
};

/** Download answers with the file itself (application/octet-stream); only errors have a JSON body. */
export const DownloadResponse = {
  200: Type.Unknown({ description: 'the stored file, byte for byte (application/octet-stream)' }),
  ...errors(400, 401, 403, 404, 409, 429, 503),
};

/** A path inside a backup as its listing shows it: '/etc/nginx' and 'etc/nginx' are the same; no NUL (a '..' segment is refused by the route). */
const BackupPath = Type.String({
  maxLength: 4_096,
  pattern: '^[^\\u0000\\n\\r]*$',
  description: "a folder or file inside the backup, as listed by GET /api/backups/:id/files ('' or '/' is the top)",
});

export const DownloadQuery = Type.Object(
  { path: Type.Optional(BackupPath) },
  { additionalProperties: false },
);

export const FilesQuery = Type.Object(
  {
    path: Type.Optional(BackupPath),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 8_192, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' })),
    limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 200 }),
  },
  { additionalProperties: false },
);

export const FileEntry = Type.Object({
  name: Type.String(),
  /** Relative to '/', as in the backup. */
  path: Type.String(),
  type: Type.Union([Type.Literal('file'), Type.Literal('dir'), Type.Literal('symlink'), Type.Literal('hardlink'), Type.Literal('other')]),
  size: Type.Integer(),
  mtime: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const FilesResponse = {
  200: ok(
    Type.Object({
      path: Type.String({ description: "the folder listed, without leading or trailing '/' ('' is the top)" }),
      entries: Type.Array(FileEntry),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as ?cursor= for the next page; null on the last one' }),
    }),
  ),
  ...errors(400, 401, 403, 404, 409, 429, 503),
};
