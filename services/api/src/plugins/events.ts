import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../shared/errors.js';
import { EventHub } from './event-hub.js';
import { SseStream } from './sse-stream.js';

declare module 'fastify' {
  interface FastifyInstance {
    events: EventHub;
    /** Open SSE responses, ended before the server closes (they would otherwise hold `close()` forever). */
    sseStreams: Set<SseStream>;
    /**
     * Starts an SSE response for the request's user within the stream caps (429 beyond them), bounded for slow
     * readers, and ended when the user's token expires. Throws before anything is written, so the 429 is JSON.
     */
    openSse(request: FastifyRequest, reply: FastifyReply): SseStream;
    /** Throws the 429 `openSse` would, without opening anything: for routes that look things up first. */
    admitSse(request: FastifyRequest): void;
    /** Ends every open stream of a user (deleted), with an `error` event saying why. */
    closeUserStreams(userId: string, message: string): void;
  }
}

export interface EventsPluginOptions {
  maxStreamsPerUser: number;
  maxStreams: number;
  maxBufferBytes: number;
}

const HEARTBEAT_MS = 15_000;
const EXPIRED = 'The token has expired; log in again.';
const USER_GONE = 'The account behind this token no longer exists.';

/** When the request's JWT expires (ms), or null: no exp claim, or an API token (revoked through its own channel). */
function tokenExpiry(request: FastifyRequest, decode: (token: string) => { exp?: unknown } | null): number | null {
  const header = request.headers.authorization;
  const token = header ? header.split(' ')[1] : (request.query as { access_token?: unknown } | undefined)?.access_token;
  if (typeof token !== 'string' || token.startsWith('mm_pat_')) return null;
  const exp = decode(token)?.exp;
  return typeof exp === 'number' ? exp * 1_000 : null;
}

/** The process-wide event hub (one QueueEvents per queue, opened on first use) and the open SSE streams. */
export default fp<EventsPluginOptions>(
  async (app, limits) => {
    const hub = new EventHub(app.queueBackend, app.log);
    const streams = new Set<SseStream>();
    app.decorate('events', hub);
    app.decorate('sseStreams', streams);

    const admit = (request: FastifyRequest): void => {
      const userId = (request.user as { id?: string } | undefined)?.id ?? null;
      if (streams.size >= limits.maxStreams) {
        throw new ApiError('RATE_LIMITED', `Too many open event streams on this server (${limits.maxStreams}); try again later.`);
      }
      let own = 0;
      for (const s of streams) if (s.userId === userId) own++;
      if (own >= limits.maxStreamsPerUser) {
        throw new ApiError('RATE_LIMITED', `Too many open event streams for this user (${limits.maxStreamsPerUser}); close one first.`);
      }
    };
    app.decorate('admitSse', admit);
    app.decorate('openSse', (request: FastifyRequest, reply: FastifyReply) => {
      admit(request);
      const stream = new SseStream(request, reply, { maxBufferBytes: limits.maxBufferBytes });
      streams.add(stream);
      const expiresAt = tokenExpiry(request, (token) => app.jwt.decode<{ exp?: unknown }>(token));
      // A stream outlives no token: it ends when the token it was opened with would be refused.
      const timer = expiresAt === null ? undefined : setTimeout(() => stream.fail(EXPIRED), Math.max(0, expiresAt - Date.now()));
      timer?.unref();
      stream.onClose(() => {
        clearTimeout(timer);
        streams.delete(stream);
      });
      return stream;
    });
    app.decorate('closeUserStreams', (userId: string, message: string) => {
      for (const stream of [...streams]) if (stream.userId === userId) stream.fail(message);
    });

    // One timer for every stream, not one per client. It also ends the streams of users deleted through another
    // API process (the user cache re-reads PostgreSQL at most every 5 s).
    const heartbeat = setInterval(() => {
      for (const stream of streams) stream.ping();
      const owners = new Set([...streams].flatMap((s) => (s.userId ? [s.userId] : [])));
      for (const userId of owners) {
        app.users
          .get(userId)
          .then((user) => {
            if (!user) app.closeUserStreams(userId, USER_GONE);
          })
          .catch((err: unknown) => app.log.warn({ err }, 'event stream owner check failed'));
      }
    }, HEARTBEAT_MS);
    heartbeat.unref();
    app.addHook('preClose', async () => {
      clearInterval(heartbeat);
      for (const stream of [...streams]) stream.end();
    });
    app.addHook('onClose', async () => {
      await hub.close();
    });
  },
  { name: 'events', dependencies: ['queues', 'auth'] },
);
