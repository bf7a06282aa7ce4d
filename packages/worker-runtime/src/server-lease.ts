import type { Logger } from '@mm/config';
import { serverLeaseKey, type LeaseStore } from '@mm/jobs';

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
 * One exclusive job per server at a time, across every worker process: a lease per server holding the job id,
 * renewed while the job runs, compare-and-delete on release. The store is the queue backend's (@mm/jobs
 * stores/lease-store.ts): a Redis key, or a row of `server_leases` on PostgreSQL.
 */
export class ServerLeases {
  constructor(
    private readonly store: LeaseStore,
    private readonly opts: ServerLeaseOptions,
  ) {}

  /** The Redis key of a server's lease (on the Redis backend). */
  key(serverId: string): string {
    return serverLeaseKey(this.opts.prefix, serverId);
  }

  /**
   * `token` is BullMQ's lock token of this take of the job. `onLost` fires once when the lease can no longer be
   * vouched for (taken over after expiry, or not renewed for a whole lease period): the caller stops the job.
   */
  async acquire(serverId: string, jobId: string, token: string, onLost: () => void): Promise<LeaseOutcome> {
    const value = `${jobId}|${token}`;
    const holder = await this.store.acquire(serverId, value, this.opts.leaseMs);
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
      this.store.renew(serverId, value, this.opts.leaseMs).then(
        (ok) => {
          if (!ok) lose('the lease expired and was taken or removed');
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
          // If this fails (the store away), the lease simply expires after leaseMs.
          await this.store.release(serverId, value).catch((err: unknown) => log.warn({ err }, 'could not release the server lease; it expires on its own'));
        },
      },
    };
  }
}
