import { Type } from '@sinclair/typebox';
import { RESTORE_TARGET_PATTERN } from '@mm/jobs';
import { errors, ok, Uuid } from './common.js';

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
