import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * The SSRF guard for URLs a user gives and this product then calls (webhooks, a rollout's HTTP gate): one home, so every
 * caller refuses the same address ranges. Who may be reached: by default only public addresses; `allowPrivate` and
 * `allowedHosts` (WEBHOOK_ALLOW_PRIVATE / WEBHOOK_ALLOWED_HOSTS, GATE_HTTP_ALLOW_PRIVATE / GATE_HTTP_ALLOWED_HOSTS) relax it.
 */
export interface PublicUrlPolicy {
  allowPrivate: boolean;
  /** Lower-cased hosts, exactly as written in URLs (IPv6 without brackets). */
  allowedHosts: ReadonlySet<string>;
  /** For the refusal: who may only reach public hosts ('webhooks') and the setting that exempts a host ('WEBHOOK_ALLOWED_HOSTS'). */
  subject: string;
  allowSetting: string;
}

export class UrlRefused extends Error {
  override name = 'UrlRefused';
}

export const parseAllowedHosts = (list: string): Set<string> =>
  new Set(
    list
      .split(',')
      .map((h) => h.trim().toLowerCase().replace(/^\[|\]$/g, ''))
      .filter(Boolean),
  );

// Loopback, private, link-local (the cloud metadata address 169.254.169.254 among them), CGNAT, multicast, reserved,
// and IPv6 transition prefixes that can embed any of those. BlockList also matches IPv4-mapped IPv6 (::ffff:a.b.c.d).
const forbidden = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2001::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  forbidden.addSubnet(net, bits, 'ipv6');
}

export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return forbidden.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const hostOf = (url: URL) => url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
const exempt = (host: string, policy: PublicUrlPolicy) => policy.allowPrivate || policy.allowedHosts.has(host);

function refusal(host: string, address: string, policy: PublicUrlPolicy): UrlRefused {
  const via = host === address ? '' : ` (resolves to ${address})`;
  return new UrlRefused(`${host}${via} is a loopback, private, link-local or metadata address; ${policy.subject} may only reach public hosts unless ${policy.allowSetting} names it`);
}

/** Syntax and scheme only: an absolute http(s) URL without embedded credentials. */
export function parsePublicUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlRefused('url is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlRefused('url must use http or https');
  if (url.username || url.password) throw new UrlRefused('url must not embed credentials');
  return url;
}

/** At creation: every address the host resolves to must be public (unless exempt). */
export async function checkPublicUrl(raw: string, policy: PublicUrlPolicy): Promise<URL> {
  const url = parsePublicUrl(raw);
  const host = hostOf(url);
  if (exempt(host, policy)) return url;
  const addresses = isIP(host)
    ? [host]
    : await new Promise<string[]>((resolve, reject) =>
        dnsLookup(host, { all: true }, (err, found) => (err ? reject(new UrlRefused(`host ${host} does not resolve`)) : resolve(found.map((a) => a.address)))),
      );
  const bad = addresses.find(isForbiddenAddress);
  if (bad !== undefined) throw refusal(host, bad, policy);
  return url;
}

/**
 * At delivery: the same check on the address actually connected to. A `lookup` for http.request, so DNS that
 * changed since creation (or rebinding between a check and the connect) cannot reach a private address.
 * IP literals never reach a lookup function: check them with `assertLiteralAllowed` first.
 */
export function guardedLookup(url: URL, policy: PublicUrlPolicy): LookupFunction {
  const host = hostOf(url);
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const bad = exempt(host, policy) ? undefined : addresses.find((a) => isForbiddenAddress(a.address));
      if (bad) return callback(refusal(host, bad.address, policy), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`host ${hostname} has no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

export function assertLiteralAllowed(url: URL, policy: PublicUrlPolicy): void {
  const host = hostOf(url);
  if (isIP(host) && !exempt(host, policy) && isForbiddenAddress(host)) throw refusal(host, host, policy);
}
