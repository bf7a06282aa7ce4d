import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors.js';
import { authenticate } from '../domain/authenticate.js';
import type { LoginThrottle } from '../domain/login-throttle.js';
import { SESSION_COOKIE, SESSION_PATH } from '../domain/admin-session.js';
import { errors, ok } from '../schemas/common.js';
import { Email, UserView } from '../schemas/users.js';

export interface SessionRoutesOptions {
  loginRateLimit: { max: number; windowMs: number };
  /** Secure cookies (HTTPS only): everywhere but development and tests. */
  secureCookie: boolean;
  /** Failed logins per account, shared with POST /api/auth/login. */
  loginThrottle: LoginThrottle;
}

/** POST /api/auth/session logs a browser in to the /admin pages with an HttpOnly cookie; DELETE logs it out. */
const routes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (app, { loginRateLimit, secureCookie, loginThrottle }) => {
  const cookieOptions = { httpOnly: true, sameSite: 'strict' as const, path: SESSION_PATH, secure: secureCookie };

  app.post(
    '/api/auth/session',
    {
      config: { auth: 'public', rateLimit: { max: loginRateLimit.max, timeWindow: loginRateLimit.windowMs } },
      schema: {
        tags: ['auth'],
        summary: 'Log a browser in to the /admin dashboard: sets an HttpOnly, SameSite=Strict session cookie holding a JWT',
        security: [],
        body: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 1_024 }) }, { additionalProperties: false }),
        response: { 200: ok(Type.Object({ user: UserView })), ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      loginThrottle.check(email, request, reply);
      const user = await authenticate(app.db, request.body.email, request.body.password);
      if (!user) {
        loginThrottle.recordFailure(email);
        request.log.info({ email: request.body.email.toLowerCase() }, 'session login failed');
        throw new ApiError('INVALID_CREDENTIALS');
      }
      loginThrottle.recordSuccess(email);
      const token = await reply.jwtSign({ sub: user.id, role: user.role });
      const exp = app.jwt.decode<{ exp?: number }>(token)?.exp;
      void reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, ...(exp ? { maxAge: exp - Math.floor(Date.now() / 1_000) } : {}) });
      request.log.info({ userId: user.id }, 'session started');
      return { success: true as const, data: { user } };
    },
  );

  app.delete(
    '/api/auth/session',
    {
      config: { auth: 'public' },
      schema: { tags: ['auth'], summary: 'Log a browser out of the /admin dashboard (clears the cookie)', security: [], response: { 200: ok(Type.Object({ loggedOut: Type.Literal(true) })) } },
    },
    async (_request, reply) => {
      void reply.clearCookie(SESSION_COOKIE, cookieOptions);
      return { success: true as const, data: { loggedOut: true as const } };
    },
  );
};

export default routes;
