import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { ApiError } from '../shared/errors.js';

export interface RateLimitPluginOptions {
  max: number;
  windowMs: number;
}

/** A global per-client limit; routes tighten it with `config.rateLimit` (login does, against brute force). */
export default fp<RateLimitPluginOptions>(
  async (app, { max, windowMs }) => {
    await app.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
      // In-process counters: one API instance per host here; a Redis store would make a Redis outage fail every route.
      errorResponseBuilder: (_request, context) => new ApiError('RATE_LIMITED', `Too many requests; retry in ${context.after}.`),
    });
  },
  { name: 'rate-limit' },
);
