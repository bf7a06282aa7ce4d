import { Type } from '@sinclair/typebox';
import { queueAliases } from '@mm/jobs';
import { STREAM_ID_PATTERN } from '../../plugins/job-event.js';
import { CURSOR_PATTERN } from './event-cursor.js';
import { Uuid } from '../../shared/schemas.js';

const list = (names: readonly string[]) => `^(${names.join('|')})(,(${names.join('|')}))*$`;

/** EventSource cannot set headers, so the SSE routes (and only they) also take the JWT in the query string. */
const AccessToken = Type.Optional(Type.String({ minLength: 1, maxLength: 4_096, description: 'the JWT, for EventSource, which cannot send an Authorization header' }));

export const JobEventsQuery = Type.Object({ access_token: AccessToken }, { additionalProperties: false });
export const JobEventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: STREAM_ID_PATTERN, description: 'the id of the last event received; the stream resumes after it' })),
});

export const EventsQuery = Type.Object(
  {
    queue: Type.Optional(Type.String({ pattern: list(queueAliases), description: 'one alias or a comma-separated list (all when absent)' })),
    serverId: Type.Optional(Uuid),
    access_token: AccessToken,
  },
  { additionalProperties: false },
);
export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: 'the id of the last event received (a position per queue); the stream resumes after it' })),
});
