import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { StorageTargetLocation } from '@mm/db';
import type { ErrorDetail } from '../../shared/errors.js';
import { isForbiddenAddress, parseAllowedHosts } from '@mm/outbound-http';

/**
 * The SSRF guard webhooks use (@mm/outbound-http: the same forbidden ranges), applied to the hosts a storage
 * target makes the API and the workers connect to: an admin could otherwise point an S3 or REST target at the
 * cloud metadata address or an internal service and read its answers back through error messages and stats.
 * STORAGE_ALLOWED_HOSTS exempts hosts as written (a LAN MinIO, a NAS); STORAGE_ALLOW_PRIVATE turns the guard off.
 */
export interface TargetHostPolicy {
  allowPrivate: boolean;
  allowedHosts: ReadonlySet<string>;
}

export const targetHostPolicy = (env: { STORAGE_ALLOW_PRIVATE: boolean; STORAGE_ALLOWED_HOSTS: string }): TargetHostPolicy => ({
  allowPrivate: env.STORAGE_ALLOW_PRIVATE,
  allowedHosts: parseAllowedHosts(env.STORAGE_ALLOWED_HOSTS),
});

/** The host a location connects to and the field naming it; a local folder connects nowhere. */
function hostOf(location: Pick<StorageTargetLocation, 'type'> & Partial<Record<'endpoint' | 'url' | 'host', string>>): { host: string; field: string } | undefined {
  const fromUrl = (raw: string | undefined) => {
    try {
      return raw === undefined ? undefined : new URL(raw).hostname.toLowerCase().replace(/^\[|\]$/g, '');
    } catch {
      return undefined;
    }
  };
  if (location.type === 's3') return { host: fromUrl(location.endpoint) ?? '', field: 'endpoint' };
  if (location.type === 'rest') return { host: fromUrl(location.url) ?? '', field: 'url' };
  if (location.type === 'sftp') return { host: (location.host ?? '').toLowerCase(), field: 'host' };
  return undefined;
}

/** Problems (empty: allowed) with every address the location's host resolves to now. */
export async function targetHostProblems(location: Pick<StorageTargetLocation, 'type'> & Partial<Record<'endpoint' | 'url' | 'host', string>>, policy: TargetHostPolicy): Promise<ErrorDetail[]> {
  const target = hostOf(location);
  if (!target || policy.allowPrivate || policy.allowedHosts.has(target.host)) return [];
  const { host, field } = target;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch {
      return [{ path: `/location/${field}`, message: `host ${host} does not resolve` }];
    }
  }
  const bad = addresses.find(isForbiddenAddress);
  if (bad === undefined) return [];
  const via = bad === host ? '' : ` (resolves to ${bad})`;
  return [{ path: `/location/${field}`, message: `${host}${via} is a loopback, private, link-local or metadata address; storage targets may only reach public hosts unless STORAGE_ALLOWED_HOSTS names it` }];
}
