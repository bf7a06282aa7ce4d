import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../../shared/errors.js';
import { authenticate } from './authenticate.js';
import type { LoginThrottle } from './login-throttle.js';
import { errors, ok } from '../../shared/schemas.js';
import { Email, UserView } from '../users/schemas.js';

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
    async (request) => {
      const email = request.body.email.toLowerCase();
      throttle.claimAttempt(email, request.log);
      // An unknown email is checked against a dummy hash, so both failures take as long and read the same.
      const user = await authenticate(app.db, email, request.body.password);
      if (!user) {
        request.log.info({ email }, 'login failed');
        throw new ApiError('INVALID_CREDENTIALS');
      }
      throttle.recordSuccess(email);
      const token = await app.jwt.sign({ sub: user.id, role: user.role });
      return { success: true as const, data: { token, user } };
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
