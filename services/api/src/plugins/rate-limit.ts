import { performance } from 'node:perf_hooks';
import fp from 'fastify-plugin';
import type { onRequestHookHandler } from 'fastify';
import { ApiError } from '../shared/errors.js';
import { withHook } from './route-hooks.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's own limit, counted per client address apart from the global one; `false`: no limit, no headers. */
    rateLimit?: false | { max: number; timeWindow: number };
  }
}

export interface RateLimitPluginOptions {
  max: number;
  windowMs: number;
}

/** Client addresses kept per limit (the global one, each route's own), as many as @fastify/rate-limit's LRU held. */
const MAX_KEYS = 5_000;

interface Count {
  hits: number;
  startedAt: number;
}

/**
 * The counts of one limit: a fixed window per client address, from its first request, as @fastify/rate-limit's
 * LocalStore kept them. The Map is in window start order (a restarted window moves to the end), and every window of
 * one limit is as long, so the windows that have ended are at the front: dropping them costs nothing per live entry.
 */
class WindowCounts {
  private readonly counts = new Map<string, Count>();
  /** Precomputed: the same text on every answer of this limit. */
  readonly limitHeader: string;

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {
    this.limitHeader = String(max);
  }

  /** The count of `key` with this request in it. */
  hit(key: string, now: number): Count {
    const count = this.counts.get(key);
    if (count === undefined) {
      this.makeRoom(now);
      const started = { hits: 1, startedAt: now };
      this.counts.set(key, started);
      return started;
    }
    if (count.startedAt + this.windowMs <= now) {
      this.counts.delete(key);
      this.makeRoom(now);
      count.hits = 1;
      count.startedAt = now;
      this.counts.set(key, count);
      return count;
    }
    count.hits++;
    return count;
  }

  /** Drops the ended windows, then, at the cap, the one that ends soonest (a flood of addresses cannot grow the Map). */
  private makeRoom(now: number): void {
    for (const [key, count] of this.counts) {
      if (count.startedAt + this.windowMs > now && this.counts.size < MAX_KEYS) return;
      this.counts.delete(key);
    }
  }
}

const UNITS = [
  ['year', 365.25 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
] as const;

/** "1 second", "10 minutes", "2 hours": the long format of @lukeed/ms, which @fastify/rate-limit put in this message. */
function humanDuration(seconds: number): string {
  const [unit, size] = UNITS.find(([, size]) => seconds >= size) ?? UNITS[UNITS.length - 1]!;
  const n = Math.round(seconds / size);
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A callback hook over one limit: no promise, and no allocation for an address it already counts. */
function limiter(limit: WindowCounts): onRequestHookHandler {
  const { max, windowMs, limitHeader } = limit;
  return function rateLimit(request, reply, done) {
    // Monotonic: a wall-clock step back would otherwise stretch every open window. Whole milliseconds: with a
    // fraction, (now + window) - now can come out a hair over the window and round the reset up a second.
    const now = Math.floor(performance.now());
    const { hits, startedAt } = limit.hit(request.ip, now);
    const resetSeconds = Math.ceil((startedAt + windowMs - now) / 1000);
    void reply.header('x-ratelimit-limit', limitHeader);
    if (hits <= max) {
      void reply.header('x-ratelimit-remaining', max - hits);
      void reply.header('x-ratelimit-reset', resetSeconds);
      return done();
    }
    void reply.header('x-ratelimit-remaining', 0);
    void reply.header('x-ratelimit-reset', resetSeconds);
    void reply.header('retry-after', resetSeconds);
    done(new ApiError('RATE_LIMITED', `Too many requests; retry in ${humanDuration(resetSeconds)}.`));
  };
}

function checked(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`rate limit: ${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * A limit per client address (`request.ip`, so TRUST_PROXY applies) on every route registered after this plugin;
 * `config.rateLimit` gives a route its own limit (login, against brute force) or none (`false`). The not-found handler
 * is not a route and is not limited. In-process counters: one API instance per host here, and a Redis store would make
 * a Redis outage fail every route.
 */
export default fp<RateLimitPluginOptions>(
  async (app, { max, windowMs }) => {
    const global = limiter(new WindowCounts(checked('max', max), checked('windowMs', windowMs)));
    // Decided per route at registration, so a request does no more than count: its hook holds the limit and header text.
    app.addHook('onRoute', (route) => {
      const own = route.config?.rateLimit;
      if (own === false) return;
      const hook = own ? limiter(new WindowCounts(checked(`max of ${route.url}`, own.max), checked(`timeWindow of ${route.url}`, own.timeWindow))) : global;
      route.onRequest = withHook(route.onRequest, hook);
    });
  },
  { name: 'rate-limit' },
);
