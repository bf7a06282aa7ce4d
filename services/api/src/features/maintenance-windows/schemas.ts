import { Type, type Static } from '@sinclair/typebox';
import { NullableTimestamp, Timestamp, Uuid } from '../../shared/schemas.js';
import { Selector } from '../../shared/server-selector.js';

/** The most windows an installation keeps: every update start evaluates each of them. */
export const MAX_WINDOWS = 100;

export const WindowNameParams = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$', description: 'lower-case letters, digits, . _ -; 1-63 characters' }),
});

export const WindowBody = Type.Object(
  {
    cron: Type.String({ minLength: 1, maxLength: 128, description: 'when the window opens: 5 fields (minute first), or 6 with seconds first; read in `timezone`' }),
    durationMin: Type.Integer({ minimum: 1, maximum: 10_080, description: 'how long it stays open, in minutes (at most a week)' }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, default: 'UTC', description: 'IANA time zone, e.g. "UTC" or "Europe/Berlin"' })),
    selector: Selector,
  },
  { additionalProperties: false },
);
export type WindowBody = Static<typeof WindowBody>;

const WindowNow = {
  open: Type.Boolean({ description: 'open now' }),
  closesAt: NullableTimestamp,
  nextOpenAt: Type.Union([Timestamp, Type.Null()], { description: 'now while open; null if the cron never fires again' }),
};

export const WindowView = Type.Object({
  name: Type.String(),
  cron: Type.String(),
  durationMin: Type.Integer(),
  timezone: Type.String(),
  selector: Type.Unknown(),
  ...WindowNow,
  servers: Type.Integer({ description: 'servers the selector matches now' }),
  createdBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type WindowView = Static<typeof WindowView>;

export const ServerWindowsView = Type.Object({
  serverId: Uuid,
  restricted: Type.Boolean({ description: 'some window selects this server: it is updated only inside one' }),
  updatableNow: Type.Boolean(),
  windows: Type.Array(Type.String()),
  closesAt: NullableTimestamp,
  nextOpenAt: NullableTimestamp,
});

export const NowQuery = Type.Object(
  { now: Type.Optional(Type.Boolean({ description: 'admin only (default false): start updates now, whatever the maintenance windows say' })) },
  { additionalProperties: false },
);
