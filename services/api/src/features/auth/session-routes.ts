import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../../shared/errors.js';
import { authenticate } from './authenticate.js';
import type { LoginThrottle } from './login-throttle.js';
import { SESSION_COOKIE, SESSION_PATH } from '../../shared/admin-session.js';
import { WEB_SESSION_COOKIE, WEB_SESSION_PATH, csrfTokenFor, readCookie } from '../../shared/web-session.js';
import { errors, ok } from '../../shared/schemas.js';
import { Email, UserView } from '../users/schemas.js';

export interface SessionRoutesOptions {
  loginRateLimit: { max: number; windowMs: number };
  /** Secure cookies (HTTPS only): everywhere but development and tests. */
  secureCookie: boolean;
  /** Failed logins per account, shared with POST /api/auth/login. */
  loginThrottle: LoginThrottle;
  /** The JWT secret, which also keys the CSRF tokens (shared/web-session.ts). */
  secret: string;
}

const CsrfToken = Type.String({ description: 'send it as the X-CSRF-Token header on POST, PUT, PATCH and DELETE made with the session cookie; keep it in memory only' });
const SessionView = Type.Object({ user: UserView, csrfToken: CsrfToken });

/**
 * POST /api/auth/session logs a browser in with two HttpOnly, SameSite=Strict cookies holding the same JWT: one for
 * /admin (bull-board) and one for /api (the dashboard, shared/web-session.ts); GET tells the page who it is and its
 * CSRF token after a reload; DELETE logs it out.
 */
const routes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (app, { loginRateLimit, secureCookie, loginThrottle, secret }) => {
  const cookieOptions = { httpOnly: true, sameSite: 'strict' as const, path: SESSION_PATH, secure: secureCookie };
  const webCookieOptions = { ...cookieOptions, path: WEB_SESSION_PATH };

  app.post(
    '/api/auth/session',
    {
      config: { auth: 'public', rateLimit: { max: loginRateLimit.max, timeWindow: loginRateLimit.windowMs } },
      schema: {
        tags: ['auth'],
        summary: 'Log a browser in (the dashboard at / and bull-board at /admin): sets HttpOnly, SameSite=Strict session cookies holding a JWT',
        security: [],
        body: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 1_024 }) }, { additionalProperties: false }),
        response: { 200: ok(SessionView), ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      loginThrottle.claimAttempt(email, request.log);
      const user = await authenticate(app.db, request.body.email, request.body.password);
      if (!user) {
        request.log.info({ email: request.body.email.toLowerCase() }, 'session login failed');
        throw new ApiError('INVALID_CREDENTIALS');
      }
      loginThrottle.recordSuccess(email);
      const token = await reply.jwtSign({ sub: user.id, role: user.role });
      const exp = app.jwt.decode<{ exp?: number }>(token)?.exp;
      const maxAge = exp ? { maxAge: exp - Math.floor(Date.now() / 1_000) } : {};
      void reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, ...maxAge });
      void reply.setCookie(WEB_SESSION_COOKIE, token, { ...webCookieOptions, ...maxAge });
      request.log.info({ userId: user.id }, 'session started');
      return { success: true as const, data: { user, csrfToken: csrfTokenFor(secret, token) } };
    },
  );

  app.get(
    '/api/auth/session',
    {
      schema: {
        tags: ['auth'],
        summary: "The session's user and its cookie's CSRF token (the dashboard asks after a reload); csrfToken is null for a Bearer caller, which needs none",
        response: { 200: ok(Type.Object({ user: UserView, csrfToken: Type.Union([CsrfToken, Type.Null()]) })), ...errors(401, 429, 503) },
      },
    },
    async (request) => {
      // The auth guard accepted the request (cookie or Bearer); only a cookie session has a CSRF token.
      const cookie = request.headers.authorization ? undefined : readCookie(request.headers.cookie, WEB_SESSION_COOKIE);
      return { success: true as const, data: { user: request.user, csrfToken: cookie ? csrfTokenFor(secret, cookie) : null } };
    },
  );

  app.delete(
    '/api/auth/session',
    {
      config: { auth: 'public' },
      schema: { tags: ['auth'], summary: 'Log a browser out of the dashboard and /admin (clears both cookies)', security: [], response: { 200: ok(Type.Object({ loggedOut: Type.Literal(true) })) } },
    },
    async (_request, reply) => {
      void reply.clearCookie(SESSION_COOKIE, cookieOptions);
      void reply.clearCookie(WEB_SESSION_COOKIE, webCookieOptions);
      return { success: true as const, data: { loggedOut: true as const } };
    },
  );
};

export default routes;
