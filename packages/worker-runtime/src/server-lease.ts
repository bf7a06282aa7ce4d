import type { Redis } from 'ioredis';
import type { Logger } from '@mm/config';

/** Deletes the lease only if this job still holds it: a lease that expired and passed to another job is left alone. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Extends the lease only if this job still holds it; 0 means it was lost (expired and taken, or deleted). */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Takes a free lease, or re-takes one this same job holds (a retry, or a stalled job picked up again). Returns the holder. */
const ACQUIRE_SCRIPT = `local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end
return held`;

type LeaseRedis = Redis & {
  mmLeaseAcquire(key: string, jobId: string, leaseMs: number): Promise<string>;
  mmLeaseRenew(key: string, jobId: string, leaseMs: number): Promise<number>;
  mmLeaseRelease(key: string, jobId: string): Promise<number>;
};

function withScripts(redis: Redis): LeaseRedis {
  const r = redis as LeaseRedis;
  if (typeof r.mmLeaseAcquire !== 'function') {
    redis.defineCommand('mmLeaseAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    redis.defineCommand('mmLeaseRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
    redis.defineCommand('mmLeaseRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  }
  return r;
}

export interface ServerLeaseOptions {
  /** QUEUE_PREFIX: leases of different deployments (and test files) never meet. */
  prefix: string;
  /** How long a lease lives without renewal: a crashed holder's server is free again after this. */
  leaseMs: number;
  renewEveryMs: number;
  log: Logger;
}

export interface HeldLease {
  /** Stops renewing and deletes the lease if this job still holds it. Never rejects. */
  release(): Promise<void>;
}

export type LeaseOutcome = { acquired: true; lease: HeldLease } | { acquired: false; holder: string };

/**
 * One exclusive job per server at a time, across every worker process: a Redis key per server holding the job id
 * (`SET NX PX` semantics, renewed while the job runs, compare-and-delete on release).
 * https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single-instance variant)
 */
export class ServerLeases {
  private readonly redis: LeaseRedis;

  constructor(
    redis: Redis,
    private readonly opts: ServerLeaseOptions,
  ) {
    this.redis = withScripts(redis);
  }

  key(serverId: string): string {
    return `${this.opts.prefix}:mm:server-lock:${serverId}`;
  }

  async acquire(serverId: string, jobId: string): Promise<LeaseOutcome> {
    const key = this.key(serverId);
    const holder = await this.redis.mmLeaseAcquire(key, jobId, this.opts.leaseMs);
    if (holder !== jobId) return { acquired: false, holder };
    const log = this.opts.log.child({ serverId, jobId });
    const renew = setInterval(() => {
      this.redis.mmLeaseRenew(key, jobId, this.opts.leaseMs).then(
        (ok) => {
          if (ok === 0) log.error('server lease lost (expired while the job ran): another exclusive job may start on this server');
        },
        (err: unknown) => log.warn({ err }, 'could not renew the server lease'),
      );
    }, this.opts.renewEveryMs);
    renew.unref();
    let released = false;
    return {
      acquired: true,
      lease: {
        release: async () => {
          if (released) return;
          released = true;
          clearInterval(renew);
          // If this fails (Redis away), the lease simply expires after leaseMs.
          await this.redis.mmLeaseRelease(key, jobId).catch((err: unknown) => log.warn({ err }, 'could not release the server lease; it expires on its own'));
        },
      },
    };
  }
}
