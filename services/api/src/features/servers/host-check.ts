import { setTimeout as sleep } from 'node:timers/promises';
import { checkHost, deploymentHostPolicy, systemLookup, type HostLookup, type HostPolicy } from '@mm/ssh';
import { ApiError } from '../../shared/errors.js';

/** How long registration waits for DNS before leaving the name to the worker's check at connect time. */
const LOOKUP_TIMEOUT_MS = 2_000;

export function serverHostPolicy(env: { SERVER_ALLOW_LOOPBACK: boolean; REDIS_URL: string; DATABASE_URL: string }): HostPolicy {
  return deploymentHostPolicy({ allowLoopback: env.SERVER_ALLOW_LOOPBACK, redisUrl: env.REDIS_URL, databaseUrl: env.DATABASE_URL });
}

/**
 * Refuses a server address that leads to this machine, the cloud's metadata service or the deployment's own Redis
 * and PostgreSQL (@mm/ssh host-policy, the same rules the workers apply again on the address they connect to).
 * A name that does not resolve now (or not within 2 s) is accepted: the worker checks it on every connect, and a
 * fleet may be registered before its DNS exists.
 */
export async function assertHostAllowed(host: string, port: number, policy: HostPolicy, lookup: HostLookup = systemLookup): Promise<void> {
  const timedLookup: HostLookup = (name) =>
    Promise.race([lookup(name), sleep(LOOKUP_TIMEOUT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error('lookup timed out')))]);
  const verdict = await checkHost(host, port, policy, timedLookup).catch(() => null);
  if (verdict && !verdict.allowed) {
    const where = verdict.address === host ? host : `${host} (${verdict.address})`;
    throw new ApiError('VALIDATION_ERROR', `host ${where} is not allowed: ${verdict.reason}.`, [{ path: '/host', message: verdict.reason }]);
  }
}
