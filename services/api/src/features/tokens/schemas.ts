import { Type } from '@sinclair/typebox';
import { NullableTimestamp, Pagination, Timestamp, Uuid } from '../../shared/schemas.js';
import { Role } from '../users/schemas.js';

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f]+$', description: 'what the token is for; no control characters' }),
    role: Type.Optional(Type.Union(Role.anyOf, { description: "at most the caller's role (403 otherwise); default: the caller's" })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'in the future; absent = never expires' })),
  },
  { additionalProperties: false },
);

export const TokenView = Type.Object({
  id: Uuid,
  name: Type.String(),
  role: Role,
  userId: Uuid,
  userEmail: Type.String(),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()], { description: 'updated at most once a minute' }),
  revokedAt: NullableTimestamp,
});

export const CreatedToken = Type.Composite([
  TokenView,
  Type.Object({ token: Type.String({ pattern: '^mm_pat_[A-Za-z0-9_-]{43}$', description: 'the secret: shown only in this answer, stored only as a hash' }) }),
]);

export const ListTokensQuery = Type.Object(
  { all: Type.Boolean({ default: false, description: "admins: every user's tokens" }), ...Pagination },
  { additionalProperties: false },
);
