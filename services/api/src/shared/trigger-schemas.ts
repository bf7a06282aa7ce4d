import { Type, type TSchema } from '@sinclair/typebox';
import { BackupOptions, UpdateOptions } from '@mm/jobs';
import { errors, ok, Uuid } from './schemas.js';

// A missing body means "all defaults", as in the seed's `-d '{"backup_type": "full"}'`.
export const BackupBody = Type.Object(
  {
    ...BackupOptions.properties,
    storageTargetId: Type.Optional(
      Type.Union([Uuid, Type.Literal('default')], { description: "store this backup on that target (an id, or 'default'); absent: the server's target, then 'default'" }),
    ),
  },
  { additionalProperties: false, default: {} },
);
export const ScanBody = Type.Object(
  { scan_type: Type.Union([Type.Literal('full'), Type.Literal('quick')]) },
  { additionalProperties: false },
);
export const UpdateBody = Type.Object(UpdateOptions.properties, { additionalProperties: false, default: {} });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'same key from the same user within 24 h returns the first answer' })),
});

export const triggerResponse = (idField: string) => ({
  202: ok(Type.Object({ [idField]: Uuid, jobId: Uuid, status: Type.Literal('pending') } as Record<string, TSchema>)),
  ...errors(400, 401, 403, 404, 409, 413, 415, 429, 503),
});
