import { Type } from '@sinclair/typebox';
import { AUDIT_CURSOR_PATTERN } from './audit-cursor.js';
import { Timestamp, Uuid } from '../../shared/schemas.js';

export const AuditOutcome = Type.Union([Type.Literal('success'), Type.Literal('failure')]);

export const AuditEntryView = Type.Object({
  id: Uuid,
  at: Timestamp,
  actor: Type.Object({ id: Type.Union([Uuid, Type.Null()]), email: Type.Union([Type.String(), Type.Null()]), role: Type.Union([Type.String(), Type.Null()]) }),
  action: Type.String({ description: '`<resource>.<verb>`, e.g. `server.create`, `backup.trigger`, `auth.login`' }),
  method: Type.String(),
  route: Type.String({ description: 'the route pattern, e.g. `/api/servers/:id`' }),
  targetId: Type.Union([Type.String(), Type.Null()]),
  statusCode: Type.Integer(),
  outcome: AuditOutcome,
  requestId: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  tokenId: Type.Union([Uuid, Type.Null()], { description: 'the API token (GET /api/tokens) the call was made with; null for a JWT or a login' }),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: 'what the route does not say: a restore\'s destination `{ serverId, targetPath, backupServerId }`; null otherwise',
  }),
});

export const AuditQuery = Type.Object(
  {
    userId: Type.Optional(Uuid),
    tokenId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]+$', description: 'exact, or a prefix ending in `.*` (e.g. `server.*`)' })),
    targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' })),
    outcome: Type.Optional(AuditOutcome),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'inclusive' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'exclusive' })),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Type.String({ pattern: AUDIT_CURSOR_PATTERN, description: '`meta.nextCursor` of the previous page' })),
  },
  { additionalProperties: false },
);

export const AuditPage = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(AuditEntryView),
  meta: Type.Object({ limit: Type.Integer(), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
});
