import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import jwt from '@fastify/jwt';
import { ApiError, unavailable } from '../shared/errors.js';
import { hasRole, type Role } from '../shared/roles.js';
import { UserCache, type CachedUser } from '../shared/user-cache.js';
import { looksLikeApiToken } from '../features/tokens/token-secret.js';
import { VerifiedTokens } from './verified-tokens.js';
import { CSRF_HEADER, WEB_SESSION_COOKIE, csrfTokenMatches, isSafeMethod, readCookie } from '../shared/web-session.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; role: Role; iat?: number };
    /** `tokenId`: the API token (mm_pat_) the request was made with; absent for a JWT. */
    user: { id: string; email: string; role: Role; tokenId?: string };
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs ('viewer' when absent), or 'public' for no token at all. */
    auth?: Role | 'public';
    /** The SSE routes: EventSource cannot set headers, so the JWT may also come as `?access_token=`. */
    queryToken?: boolean;
    /** A long-lived Server-Sent Events response (left out of the HTTP latency histogram). */
    sse?: boolean;
  }
  interface FastifyInstance {
    users: UserCache;
  }
}

export interface AuthPluginOptions {
  secret: string;
  expiresIn: string;
}

/** The token of an `Authorization: Bearer <token>` header; anything else is no token. */
function bearerToken(header: string | undefined): string {
  const [scheme, token, extra] = header?.split(' ') ?? [];
  if (!scheme || !/^Bearer$/i.test(scheme) || !token || extra !== undefined) throw new ApiError('UNAUTHORIZED', 'A valid Bearer token is required.');
  return token;
}

/** What a failed token check answers: ApiErrors as they are, an expired JWT as such, anything else as no valid token. */
function refusal(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const code = (err as { code?: string }).code;
  const expired = code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' || code === 'FAST_JWT_EXPIRED';
  return new ApiError('UNAUTHORIZED', expired ? 'The token has expired; log in again.' : 'A valid Bearer token is required.');
}

/**
 * One guard for everything under /api: a valid Bearer JWT (or `?access_token=` on the SSE routes), or else the
 * dashboard's session cookie (with the CSRF header on unsafe methods), of a user who still exists, with the route's role.
 */
export default fp<AuthPluginOptions>(
  async (app, { secret, expiresIn }) => {
    await app.register(jwt, {
      secret,
      sign: { expiresIn, algorithm: 'HS256' },
      verify: { algorithms: ['HS256'] },
      formatUser: (payload) => ({ id: payload.sub, email: '', role: payload.role }),
    });
    const cache = new UserCache(app.db);
    const tokens = new VerifiedTokens<{ sub: string; role: Role; exp?: number }>((token) => app.jwt.verify(token));
    app.decorate('users', cache);

    /** The token's claims onto request.user (an API token's through its own lookup); throws ApiError when refused. */
    const readCredential = (request: FastifyRequest): Promise<void> | undefined => {
      try {
        const queryToken = request.routeOptions.config?.queryToken ? (request.query as { access_token?: unknown }).access_token : undefined;
        // A browser's cookie counts only when the request names no other credential (scripts and the CLI are unaffected).
        const sessionToken = !request.headers.authorization && typeof queryToken !== 'string' ? readCookie(request.headers.cookie, WEB_SESSION_COOKIE) : undefined;
        if (sessionToken !== undefined && !isSafeMethod(request.method) && !csrfTokenMatches(secret, sessionToken, request.headers[CSRF_HEADER])) {
          request.log.info({ method: request.method }, 'cookie session request refused: CSRF token missing or wrong');
          throw new ApiError('FORBIDDEN', `A cookie session needs the ${CSRF_HEADER} header (from /api/auth/session) on this method.`);
        }
        const token = sessionToken ?? (!request.headers.authorization && typeof queryToken === 'string' ? queryToken : bearerToken(request.headers.authorization));
        if (sessionToken === undefined && looksLikeApiToken(token)) {
          return app.apiTokens.verify(token).then(
            (found) => {
              if (!found) throw new ApiError('UNAUTHORIZED', 'A valid Bearer token is required.');
              request.user = { id: found.userId, email: '', role: found.role, tokenId: found.id };
            },
            (err: unknown) => {
              request.log.warn({ err }, 'api token lookup failed');
              throw unavailable('The database is unavailable; try again shortly.');
            },
          );
        }
        // The verifier built at registration, behind a cache of verified tokens (request.jwtVerify decodes twice, caches nothing).
        const payload = tokens.get(token);
        request.user = { id: payload.sub, email: '', role: payload.role };
        return undefined;
      } catch (err) {
        throw refusal(err);
      }
    };

    /** The user behind request.user as it is now (role changes and deletions count within UserCache's TTL), and the route's role. */
    const admit = (request: FastifyRequest, user: CachedUser | null, required: Role): void => {
      if (!user) throw new ApiError('UNAUTHORIZED', 'The account behind this token no longer exists.');
      const { tokenId } = request.user;
      // An API token acts with its own role, and never above its owner's current one (a demoted owner's tokens follow).
      request.user = tokenId ? { ...user, role: hasRole(user.role, request.user.role) ? request.user.role : user.role, tokenId } : user;
      if (!hasRole(request.user.role, required)) throw new ApiError('FORBIDDEN', `This action needs the ${required} role.`);
    };

    const lookUpUser = (request: FastifyRequest, required: Role): Promise<void> =>
      cache.get(request.user.id).then(
        (user) => admit(request, user, required),
        (err: unknown) => {
          request.log.warn({ err }, 'user lookup failed');
          throw unavailable('The database is unavailable; try again shortly.');
        },
      );

    // A callback hook: a request whose token and user are both cached (nearly all of them) is admitted without a
    // promise; only a cache miss or an API token waits on a lookup (docs/PERFORMANCE.md).
    app.addHook('onRequest', (request, _reply, done) => {
      // The matched route's pattern, not the raw URL, so no spelling of a path slips past the guard.
      const required = request.routeOptions.url?.startsWith('/api/') ? (request.routeOptions.config?.auth ?? 'viewer') : 'public';
      if (required === 'public') return done();
      let pending: Promise<void> | undefined;
      try {
        const reading = readCredential(request);
        if (reading) {
          pending = reading.then(() => lookUpUser(request, required));
        } else {
          const cached = cache.peek(request.user.id);
          if (cached === undefined) pending = lookUpUser(request, required);
          else admit(request, cached, required);
        }
      } catch (err) {
        return done(err as Error);
      }
      if (!pending) return done();
      pending.then(() => done(), (err: Error) => done(err));
    });
  },
  { name: 'auth', dependencies: ['database', 'api-tokens'] },
);
