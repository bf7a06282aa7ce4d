import fp from 'fastify-plugin';
import jwt from '@fastify/jwt';
import { ApiError, unavailable } from '../errors.js';
import { hasRole, type Role } from '../domain/roles.js';
import { UserCache } from '../domain/user-cache.js';
import { VerifiedTokens } from '../domain/verified-tokens.js';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; role: Role; iat?: number };
    user: { id: string; email: string; role: Role };
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

/** One guard for everything under /api: a valid Bearer JWT (or `?access_token=` on the SSE routes) of a user who still exists, with the route's role. */
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

    app.addHook('onRequest', async (request) => {
      // The matched route's pattern, not the raw URL, so no spelling of a path slips past the guard.
      if (!request.routeOptions.url?.startsWith('/api/')) return;
      const required = request.routeOptions.config?.auth ?? 'viewer';
      if (required === 'public') return;
      try {
        const queryToken = request.routeOptions.config?.queryToken ? (request.query as { access_token?: unknown }).access_token : undefined;
        const token = !request.headers.authorization && typeof queryToken === 'string' ? queryToken : bearerToken(request.headers.authorization);
        // The verifier built at registration, behind a cache of verified tokens (request.jwtVerify decodes twice, caches nothing).
        const payload = tokens.get(token);
        request.user = { id: payload.sub, email: '', role: payload.role };
      } catch (err) {
        const code = (err as { code?: string }).code;
        const expired = code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' || code === 'FAST_JWT_EXPIRED';
        throw new ApiError('UNAUTHORIZED', expired ? 'The token has expired; log in again.' : 'A valid Bearer token is required.');
      }
      const user = await cache.get(request.user.id).catch((err: unknown) => {
        request.log.warn({ err }, 'user lookup failed');
        throw unavailable('The database is unavailable; try again shortly.');
      });
      if (!user) throw new ApiError('UNAUTHORIZED', 'The account behind this token no longer exists.');
      request.user = user;
      if (!hasRole(user.role, required)) throw new ApiError('FORBIDDEN', `This action needs the ${required} role.`);
    });
  },
  { name: 'auth', dependencies: ['database'] },
);
