import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import type { ApiEnv } from '../../env.js';
import { LoginThrottle } from './login-throttle.js';
import loginRoutes from './login-routes.js';
import sessionRoutes from './session-routes.js';

/** Logging in: a JWT (POST /api/auth/login, GET /api/auth/me) or the browser session cookies of the dashboard and /admin (POST|GET|DELETE /api/auth/session). */
const auth: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, { env }) => {
  const loginRateLimit = { max: env.LOGIN_RATE_LIMIT_MAX, windowMs: env.LOGIN_RATE_LIMIT_WINDOW_MS };
  // One per-account counter for both ways to log in (JWT and admin session), so neither resets the other's guesses.
  const loginThrottle = new LoginThrottle(env.LOGIN_RATE_LIMIT_MAX, env.LOGIN_RATE_LIMIT_WINDOW_MS);
  // Cookies only where they are read or set (here and the dashboard): parsing them on every request cost ~2 % of the hot paths' CPU.
  await app.register(cookie);
  await app.register(loginRoutes, { loginRateLimit, loginThrottle });
  await app.register(sessionRoutes, { loginRateLimit, loginThrottle, secureCookie: env.NODE_ENV === 'production', secret: env.JWT_SECRET });
};

export default auth;
