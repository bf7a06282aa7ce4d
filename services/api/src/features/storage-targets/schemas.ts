import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { UUID_PATTERN } from '@mm/jobs';
import { errors, NullableTimestamp, ok, Timestamp } from '../../shared/schemas.js';

// Printable text without NUL or newlines: every field here ends up in restic's environment or a file it reads.
const Line = (maxLength: number, extra: Record<string, unknown> = {}) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$', ...extra });
const Pem = (what: string) => Type.String({ minLength: 64, maxLength: 64 * 1024, description: `${what} in PEM form` });

const AbsolutePath = Line(4_096, { description: "absolute path ('/' first); relative paths are refused" });

export const LocalLocation = Type.Object({ type: Type.Literal('local'), path: AbsolutePath }, { additionalProperties: false });

export const S3Location = Type.Object(
  {
    type: Type.Literal('s3'),
    endpoint: Line(2_048, { description: 'https://host[:port] (http:// only with STORAGE_ALLOW_INSECURE_S3=true)' }),
    bucket: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', description: 'S3 bucket name' }),
    prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 1_024, pattern: '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$', description: "folder inside the bucket (no leading '/', no '..')" })),
    region: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$' })),
    accessKeyId: Line(256),
    secretAccessKey: Line(1_024),
    caCertPem: Type.Optional(Pem('the CA certificate (or self-signed certificate) to trust for the endpoint')),
  },
  { additionalProperties: false },
);

export const RestLocation = Type.Object(
  {
    type: Type.Literal('rest'),
    url: Line(2_048, { description: "http(s)://host[:port]/path/ of a restic REST server; credentials go in username/password, not in the URL" }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f:]+$' })),
    password: Type.Optional(Line(1_024)),
    caCertPem: Type.Optional(Pem('the CA certificate to trust for the server')),
  },
  { additionalProperties: false },
);

export const SftpLocation = Type.Object(
  {
    type: Type.Literal('sftp'),
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$', description: 'hostname, IPv4 or IPv6 address' }),
    port: Type.Integer({ minimum: 1, maximum: 65_535 }),
    username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z_][A-Za-z0-9._-]*$' }),
    privateKey: Pem('an OpenSSH private key without passphrase'),
    path: AbsolutePath,
    hostKeyFingerprint: Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$', description: 'the pinned host key, as `ssh-keygen -lf` prints it' }),
  },
  { additionalProperties: false },
);

export const Location = Type.Union([LocalLocation, S3Location, RestLocation, SftpLocation], {
  description: 'where the target stores backups; the `type` decides the other fields',
});
export type Location = Static<typeof Location>;

export const TargetName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$',
  description: "letters, digits, '.', '_' and '-'; 'default' is the environment's target",
});

export const CreateTargetBody = Type.Object(
  {
    name: TargetName,
    engine: Type.Union([Type.Literal('restic'), Type.Literal('archive')]),
    location: Location,
    password: Type.Optional(
      Type.String({ minLength: 8, maxLength: 1_024, pattern: '^[^\\u0000\\n\\r]+$', description: 'restic repository password; generated when absent (restic engine only)' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateTargetBody = Static<typeof CreateTargetBody>;

/** A target id in a path: a UUID or `default`. */
export const TargetIdParams = Type.Object({
  id: Type.String({ pattern: `(${UUID_PATTERN})|(^default$)`, maxLength: 36, description: "a storage target's id, or `default`" }),
});

export const PublicLocation = Type.Object(
  {
    type: Type.Union([Type.Literal('local'), Type.Literal('s3'), Type.Literal('rest'), Type.Literal('sftp')]),
    path: Type.Optional(Type.String()),
    endpoint: Type.Optional(Type.String()),
    bucket: Type.Optional(Type.String()),
    prefix: Type.Optional(Type.String()),
    region: Type.Optional(Type.String()),
    url: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer()),
    hostKeyFingerprint: Type.Optional(Type.String()),
    hasCaCert: Type.Optional(Type.Boolean()),
  },
  { description: 'the location without any credential (keys, passwords, private keys are never returned)' },
);

export type PublicLocation = Static<typeof PublicLocation>;

const LastCheck = Type.Union([
  Type.Object({
    id: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('passed'), Type.Literal('failed')]),
    readDataSubset: Type.Union([Type.String(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
    affectedBackupIds: Type.Union([Type.Array(Type.String()), Type.Null()], {
      description: 'a failed check: the backups whose snapshots use a damaged pack (verify or re-take them); null when passed or not traceable',
    }),
    createdAt: Timestamp,
    finishedAt: NullableTimestamp,
  }),
  Type.Null(),
]);

export const TargetView = Type.Object({
  id: Type.String({ description: 'UUID, or `default` for the target from the environment' }),
  name: Type.String(),
  engine: Type.Union([Type.Literal('restic'), Type.Literal('archive')]),
  isDefault: Type.Boolean(),
  /** The repository as `restic -r` takes it, without credentials. */
  repository: Type.String(),
  location: PublicLocation,
  backupCount: Type.Integer({ description: 'backup records stored on this target' }),
  lastCheck: LastCheck,
  createdAt: NullableTimestamp,
});
export type TargetView = Static<typeof TargetView>;

export const TargetDetail = Type.Intersect([
  TargetView,
  Type.Object({
    snapshotCount: Type.Union([Type.Integer(), Type.Null()], { description: 'restic snapshots (archive: stored backups); null when the repository could not be read' }),
    sizeBytes: Type.Union([Type.Integer(), Type.Null()], { description: "the repository's stored size (archive: the sum of the stored files)" }),
    statsError: Type.Union([Type.String(), Type.Null()], { description: 'why snapshotCount and sizeBytes are null' }),
  }),
]);

export const CreatedTarget = Type.Intersect([TargetView, Type.Object({ repositoryState: Type.Union([Type.Literal('created'), Type.Literal('opened'), Type.Literal('not-applicable')]) })]);

export const CheckAccepted = Type.Object({ jobId: Type.String(), checkId: Type.String(), storageTargetId: Type.String(), status: Type.Literal('pending') });

export const responses = {
  create: { 201: ok(CreatedTarget), ...errors(400, 401, 403, 409, 413, 415, 429, 503) },
  list: { 200: ok(Type.Array(TargetView)), ...errors(400, 401, 403, 429, 503) },
  get: { 200: ok(TargetDetail), ...errors(400, 401, 403, 404, 429, 503) },
  remove: { 200: ok(Type.Object({ id: Type.String(), deleted: Type.Literal(true) })), ...errors(400, 401, 403, 404, 409, 429, 503) },
  check: { 202: ok(CheckAccepted), ...errors(400, 401, 403, 404, 429, 503) },
};

const variants = { local: LocalLocation, s3: S3Location, rest: RestLocation, sftp: SftpLocation } as const;
const compiled: Record<keyof typeof variants, TypeCheck<TSchema>> = {
  local: TypeCompiler.Compile(LocalLocation),
  s3: TypeCompiler.Compile(S3Location),
  rest: TypeCompiler.Compile(RestLocation),
  sftp: TypeCompiler.Compile(SftpLocation),
};

/**
 * Why a body's `location` fails, said for its own `type` (a union's own error is only "Expected union value"):
 * an unknown type, or the first problems of the variant it names. Empty when it passes.
 */
export function locationSchemaProblems(location: unknown): { path: string; message: string }[] {
  if (typeof location !== 'object' || location === null) return [{ path: '/location', message: 'must be an object' }];
  const type = (location as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(variants, type)) {
    return [{ path: '/location/type', message: `must be one of ${Object.keys(variants).join(', ')}` }];
  }
  const check = compiled[type as keyof typeof variants];
  return [...check.Errors(location)].slice(0, 10).map((e) => ({ path: `/location${e.path}`, message: e.message }));
}
