import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { eq } from 'drizzle-orm';
import { users } from '@mm/db';
import { ApiError } from '../errors.js';
import { dummyPasswordHash, verifyPassword } from '../domain/passwords.js';
import type { LoginThrottle } from '../domain/login-throttle.js';
import { errors, ok } from '../schemas/common.js';
import { Email, UserView } from '../schemas/users.js';

export interface AuthRoutesOptions {
  loginRateLimit: { max: number; windowMs: number };
  /** Failed logins per account; the route's rateLimit config counts attempts per client address. */
  loginThrottle: LoginThrottle;
}

const routes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, { loginRateLimit, loginThrottle: throttle }) => {
  app.post(
    '/api/auth/login',
    {
      config: { auth: 'public', rateLimit: { max: loginRateLimit.max, timeWindow: loginRateLimit.windowMs } },
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for a JWT',
        security: [],
        body: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 1_024 }) }, { additionalProperties: false }),
        response: { 200: ok(Type.Object({ token: Type.String(), user: UserView })), ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      throttle.check(email, request, reply);
      const [user] = await app.db.select().from(users).where(eq(users.email, email));
      // Verify against a dummy hash for an unknown email so both failures take as long and read the same.
      const valid = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), request.body.password);
      if (!user || !valid) {
        throttle.recordFailure(email);
        request.log.info({ email }, 'login failed');
        throw new ApiError('INVALID_CREDENTIALS');
      }
      throttle.recordSuccess(email);
      const token = await app.jwt.sign({ sub: user.id, role: user.role });
      return { success: true as const, data: { token, user: { id: user.id, email: user.email, role: user.role } } };
    },
  );

  app.get(
    '/api/auth/me',
    {
      schema: { tags: ['auth'], summary: 'The user the token belongs to', response: { 200: ok(UserView), ...errors(401, 429, 503) } },
    },
    async (request) => ({ success: true as const, data: request.user }),
  );
};

export default routes;
