import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { SshConnectionError, SshError } from './errors.js';

/**
 * Which addresses a server's `host` may lead to. A managed server is registered by an operator, so its address must
 * not reach the machine the workers run on, the cloud's metadata service, or this deployment's own Redis and
 * PostgreSQL. Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) stay allowed: fleets live there.
 */
export interface HostPolicy {
  /** 127.0.0.0/8 and ::1 allowed (labs and tests: SERVER_ALLOW_LOOPBACK=true). The deny list still applies. */
  allowLoopback: boolean;
  /** Endpoints no server may point at, checked even with `allowLoopback`. */
  deny: readonly DeniedEndpoint[];
}

export interface DeniedEndpoint {
  /** An address or a name (resolved at every check). */
  host: string;
  /** Omitted: every port of that address. */
  port?: number;
  /** Named in the refusal, e.g. 'Redis'. */
  label: string;
}

export type AddressKind =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'cloud-metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export type HostCheck = { allowed: true; address: string } | { allowed: false; address: string; reason: string };

/** Resolves a name to every address it has (A and AAAA). Injected by tests that simulate DNS answers. */
export type HostLookup = (host: string) => Promise<string[]>;

export const STRICT_HOST_POLICY: HostPolicy = Object.freeze({ allowLoopback: false, deny: Object.freeze([]) });

const ALLOWED_KINDS = new Set<AddressKind>(['public', 'private']);

/** The refusal of an address: not retried (the same address will be refused again). */
export class HostNotAllowedError extends SshError {
  override name = 'HostNotAllowedError';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(host === address ? `host ${host} is not allowed: ${reason}` : `host ${host} (${address}) is not allowed: ${reason}`, false);
  }
}

// Metadata endpoints outside link-local (169.254.0.0/16 and fe80::/10 are refused as a whole anyway).
const METADATA_V4 = new Set(['100.100.100.200', '192.0.0.192', '168.63.129.16']);
const METADATA_V6 = new Set(['fd00:ec2:0:0:0:0:0:254', 'fd20:ce:0:0:0:0:0:254']);

function parseV4(text: string): number[] {
  return text.split('.').map(Number);
}

/** 16 bytes of an IPv6 literal (zone id removed); `text` passed net.isIPv6. */
function parseV6(text: string): number[] {
  let rest = text.split('%')[0] ?? '';
  let tail: number[] = [];
  const lastColon = rest.lastIndexOf(':');
  if (rest.slice(lastColon + 1).includes('.')) {
    tail = parseV4(rest.slice(lastColon + 1));
    rest = `${rest.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', after] = rest.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = after === undefined ? [] : groups(after);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function kindOfV4([a = 0, b = 0]: number[], text: string): AddressKind {
  if (METADATA_V4.has(text)) return 'cloud-metadata';
  if (a === 0) return 'unspecified'; // 0.0.0.0/8: a connect to 0.0.0.0 reaches this machine
  if (a === 127) return 'loopback';
  if (a === 169 && b === 254) return text === '169.254.169.254' || text === '169.254.170.2' ? 'cloud-metadata' : 'link-local';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved'; // includes 255.255.255.255
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return 'private';
  return 'public';
}

const v4Text = (bytes: number[]) => bytes.join('.');
const zeros = (bytes: number[], from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);

function kindOfV6(bytes: number[]): AddressKind {
  const canonical = canonicalV6(bytes);
  if (METADATA_V6.has(canonical)) return 'cloud-metadata';
  if (zeros(bytes, 0, 16)) return 'unspecified';
  if (zeros(bytes, 0, 15) && bytes[15] === 1) return 'loopback';
  const embedded = embeddedV4(bytes);
  if (embedded) return kindOfV4(embedded, v4Text(embedded));
  const [b0 = 0, b1 = 0] = bytes;
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local';
  if (b0 === 0xff) return 'multicast';
  if ((b0 & 0xfe) === 0xfc) return 'private';
  return 'public';
}

/**
 * The IPv4 address an IPv6 one carries to the same host: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64
 * (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002:AABB:CCDD::). Checking the inner address keeps ::ffff:127.0.0.1 out.
 */
function embeddedV4(bytes: number[]): number[] | undefined {
  if (zeros(bytes, 0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12);
  if (zeros(bytes, 0, 12)) return bytes.slice(12);
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && (zeros(bytes, 4, 12) || (bytes[4] === 0 && bytes[5] === 1))) {
    return bytes.slice(12);
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6);
  return undefined;
}

function canonicalV6(bytes: number[]): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return words.join(':');
}

/** A comparable form of an address literal: IPv4-mapped IPv6 becomes IPv4, IPv6 is fully expanded; null = not an address. */
export function canonicalAddress(address: string): string | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(bare)) return v4Text(parseV4(bare));
  if (!isIPv6(bare)) return null;
  const bytes = parseV6(bare);
  if (zeros(bytes, 0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return v4Text(bytes.slice(12));
  return canonicalV6(bytes);
}

/** What an address literal is; null when `address` is not an IPv4 or IPv6 literal. */
export function classifyAddress(address: string): AddressKind | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(bare)) return kindOfV4(parseV4(bare), v4Text(parseV4(bare)));
  if (isIPv6(bare)) return kindOfV6(parseV6(bare));
  return null;
}

const isLiteral = (host: string) => canonicalAddress(host) !== null;

/** Resolves through the system resolver (getaddrinfo: /etc/hosts, then DNS), every address. */
export const systemLookup: HostLookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The addresses of the deny list; a deny name that does not resolve denies nothing (it cannot be connected to either). */
async function deniedAddresses(policy: HostPolicy, lookup: HostLookup): Promise<{ address: string; port?: number; label: string }[]> {
  const lists = await Promise.all(
    policy.deny.map(async (entry) => {
      const addresses = isLiteral(entry.host) ? [entry.host] : await lookup(entry.host).catch(() => [] as string[]);
      return addresses.flatMap((a) => {
        const canonical = canonicalAddress(a);
        return canonical === null ? [] : [{ address: canonical, label: entry.label, ...(entry.port === undefined ? {} : { port: entry.port }) }];
      });
    }),
  );
  return lists.flat();
}

function verdictOf(address: string, port: number, policy: HostPolicy, denied: { address: string; port?: number; label: string }[]): HostCheck {
  const kind = classifyAddress(address);
  if (kind === null) return { allowed: false, address, reason: 'not an IP address' };
  const canonical = canonicalAddress(address);
  const hit = denied.find((d) => d.address === canonical && (d.port === undefined || d.port === port));
  if (hit) return { allowed: false, address, reason: `it is this deployment's ${hit.label}` };
  if (ALLOWED_KINDS.has(kind) || (kind === 'loopback' && policy.allowLoopback)) return { allowed: true, address };
  const hint = kind === 'loopback' ? ' (SERVER_ALLOW_LOOPBACK=true allows it in labs and tests)' : '';
  return { allowed: false, address, reason: `${kind} address${hint}` };
}

/**
 * Checks `host` (a name or an address literal) as it resolves now. Every address of a name must be allowed: a DNS answer
 * that mixes a public address with 127.0.0.1 is refused, whichever one a client would have picked. Lookup failures
 * (ENOTFOUND, EAI_AGAIN) reject with the resolver's error.
 */
export async function checkHost(host: string, port: number, policy: HostPolicy, lookup: HostLookup = systemLookup): Promise<HostCheck> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const [addresses, denied] = await Promise.all([isLiteral(bare) ? [bare] : lookup(bare), deniedAddresses(policy, lookup)]);
  if (addresses.length === 0) return { allowed: false, address: bare, reason: 'the name has no address' };
  let first: HostCheck | undefined;
  for (const address of addresses) {
    const verdict = verdictOf(address, port, policy, denied);
    if (!verdict.allowed) return verdict;
    first ??= verdict;
  }
  return first as HostCheck;
}

/**
 * The address to connect to for `host`, or HostNotAllowedError. The caller connects to the returned address, not to
 * the name again, so a second DNS answer (rebinding to 127.0.0.1) can never be the one connected to. A failed lookup is
 * an SshConnectionError (retryable: DNS may be back).
 */
export async function resolveAllowedAddress(host: string, port: number, policy: HostPolicy, lookup: HostLookup = systemLookup): Promise<string> {
  let verdict: HostCheck;
  try {
    verdict = await checkHost(host, port, policy, lookup);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new SshConnectionError(`cannot resolve ${host}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
  }
  if (!verdict.allowed) throw new HostNotAllowedError(host, verdict.address, verdict.reason);
  return verdict.address;
}

const DEFAULT_PORTS: Record<string, number> = { 'redis:': 6379, 'rediss:': 6379, 'postgres:': 5432, 'postgresql:': 5432 };

/** A deny entry for a service URL (`redis://host:6379`, `postgres://user@host/db`): its host and port, default port when absent. */
export function deniedEndpointOfUrl(url: string, label: string): DeniedEndpoint {
  const parsed = new URL(url);
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const port = parsed.port === '' ? DEFAULT_PORTS[parsed.protocol] : Number(parsed.port);
  return { host, label, ...(port === undefined ? {} : { port }) };
}

/** The policy a process of this deployment uses: loopback switch plus its own Redis and PostgreSQL denied. */
export function deploymentHostPolicy(opts: { allowLoopback: boolean; redisUrl: string; databaseUrl: string }): HostPolicy {
  // A PostgreSQL URL may name no host (a Unix socket in `?host=`): nothing to deny on the network then.
  // REDIS_URL names every seed node of a Redis Cluster, comma-separated: each is denied (nodes only discovered at run time are not).
  const redis = opts.redisUrl.split(',').map((url) => deniedEndpointOfUrl(url.trim(), 'Redis'));
  const deny = [...redis, deniedEndpointOfUrl(opts.databaseUrl, 'PostgreSQL')].filter((d) => d.host !== '');
  return { allowLoopback: opts.allowLoopback, deny };
}
