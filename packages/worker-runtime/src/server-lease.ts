import type { Redis } from 'ioredis';
import type { Logger } from '@mm/config';

/** Deletes the lease only if this job still holds it: a lease that expired and passed to another job is left alone. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Extends the lease only if this job still holds it; 0 means it was lost (expired and taken, or deleted). */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/**
 * Takes a free lease, or re-takes one this very take of the job holds (same job id and BullMQ lock token). A stalled
 * job picked up again has a new token: it waits for the old lease to expire like any other job. Returns the holder.
 */
const ACQUIRE_SCRIPT = `local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end
return held`;

type LeaseRedis = Redis & {
  mmLeaseAcquire(key: string, holder: string, leaseMs: number): Promise<string>;
  mmLeaseRenew(key: string, holder: string, leaseMs: number): Promise<number>;
  mmLeaseRelease(key: string, holder: string): Promise<number>;
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

  /**
   * `token` is BullMQ's lock token of this take of the job. `onLost` fires once when the lease can no longer be
   * vouched for (taken over after expiry, or not renewed for a whole lease period): the caller stops the job.
   */
  async acquire(serverId: string, jobId: string, token: string, onLost: () => void): Promise<LeaseOutcome> {
    const key = this.key(serverId);
    const value = `${jobId}|${token}`;
    const holder = await this.redis.mmLeaseAcquire(key, value, this.opts.leaseMs);
    if (holder !== value) return { acquired: false, holder: holder.split('|')[0] ?? holder };
    const log = this.opts.log.child({ serverId, jobId });
    let renewedAt = Date.now();
    let lost = false;
    const lose = (why: string) => {
      if (lost) return;
      lost = true;
      clearInterval(renew);
      log.error({ why }, 'server lease lost while the job ran: stopping the job so it cannot overlap another on this server');
      onLost();
    };
    const renew = setInterval(() => {
      const attemptAt = Date.now();
      this.redis.mmLeaseRenew(key, value, this.opts.leaseMs).then(
        (ok) => {
          if (ok === 0) lose('the lease expired and was taken or removed');
          else renewedAt = attemptAt;
        },
        (err: unknown) => {
          log.warn({ err }, 'could not renew the server lease');
          if (Date.now() - renewedAt >= this.opts.leaseMs) lose('not renewed for a whole lease period');
        },
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
          await this.redis.mmLeaseRelease(key, value).catch((err: unknown) => log.warn({ err }, 'could not release the server lease; it expires on its own'));
        },
      },
    };
  }
}
