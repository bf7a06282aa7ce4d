import { Type, type Static } from '@sinclair/typebox';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';
import { NullableStorageTargetRef } from '../storage-targets/target-ref.js';

export const KeyAuth = Type.Object(
  {
    type: Type.Literal('key'),
    privateKey: Type.String({ minLength: 1, maxLength: 16_384, pattern: '-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----', description: 'PEM or OpenSSH private key' }),
    passphrase: Type.Optional(Type.String({ minLength: 1, maxLength: 1_024 })),
  },
  { additionalProperties: false },
);
export const PasswordAuth = Type.Object(
  { type: Type.Literal('password'), password: Type.String({ minLength: 1, maxLength: 1_024 }) },
  { additionalProperties: false },
);
export const ServerAuth = Type.Union([KeyAuth, PasswordAuth]);
export type ServerAuth = Static<typeof ServerAuth>;

const fields = {
  // Free text, but no NUL: PostgreSQL text cannot store it (the insert would fail with a 500).
  name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]+$' }),
  host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$', description: 'hostname, IPv4 or IPv6 address' }),
  port: Type.Integer({ minimum: 1, maximum: 65_535 }),
  username: Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' }),
  auth: ServerAuth,
  /** `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$', description: 'absent = trust on first use' }),
  backupPaths: Type.Array(Type.String({ minLength: 1, maxLength: 4_096, pattern: '^/[^\\u0000\\n\\r]*$' }), { maxItems: 50, uniqueItems: true }),
  tags: Type.Array(Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }), { maxItems: 20, uniqueItems: true }),
};

export const CreateServerBody = Type.Object(
  {
    name: fields.name,
    host: fields.host,
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, default: 22 })),
    username: fields.username,
    auth: fields.auth,
    hostKeyFingerprint: Type.Optional(fields.hostKeyFingerprint),
    backupPaths: Type.Optional(fields.backupPaths),
    tags: Type.Optional(fields.tags),
    storageTargetId: Type.Optional(NullableStorageTargetRef),
  },
  { additionalProperties: false },
);

export const UpdateServerBody = Type.Object(
  {
    name: Type.Optional(fields.name),
    host: Type.Optional(fields.host),
    port: Type.Optional(fields.port),
    username: Type.Optional(fields.username),
    auth: Type.Optional(fields.auth),
    hostKeyFingerprint: Type.Optional(Type.Union([fields.hostKeyFingerprint, Type.Null()], { description: 'null forgets the pin (trust on first use again)' })),
    backupPaths: Type.Optional(fields.backupPaths),
    tags: Type.Optional(fields.tags),
    storageTargetId: Type.Optional(NullableStorageTargetRef),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** What the API shows of a server: never a credential, not even masked, only which kind it is. */
export const ServerView = Type.Object({
  id: Uuid,
  name: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  username: Type.String(),
  authType: Type.Union([Type.Literal('key'), Type.Literal('password')]),
  hostKeyFingerprint: Type.Union([Type.String(), Type.Null()]),
  backupPaths: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
  labels: Type.Record(Type.String(), Type.String(), { description: 'set with PUT /api/servers/:serverId/labels' }),
  /** os-release ID and VERSION_ID from the last full scan; null until one ran. */
  os: Type.Union([Type.String(), Type.Null()]),
  osVersion: Type.Union([Type.String(), Type.Null()]),
  storageTargetId: Type.Union([Uuid, Type.Null()], { description: "where its backups go unless a trigger or schedule says otherwise; null = the 'default' target" }),
  lastSeenStatus: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Null()]),
  lastSeenAt: NullableTimestamp,
  lastLatencyMs: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type ServerView = Static<typeof ServerView>;
