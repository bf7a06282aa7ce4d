import { FULL_SCAN_SECTIONS, SECTION_MARKER, type FullScanSection } from './script.js';
import { findingsOf } from './findings.js';
import type { Disk, FullScanResult, ListeningPort } from './result-schema.js';
import { sshdSettingsOf } from './sshd-settings.js';

const UNAVAILABLE = '@@mm-unavailable ';
/** The host prints this output: no fact needs a longer line, and every parser below then works on bounded text. */
const MAX_LINE_LENGTH = 4_096;

type Facts = Omit<FullScanResult, 'collectedAt' | 'notes' | 'findings'>;

/** Splits the script's stdout into its sections; lines before the first marker are ignored. */
export function splitSections(stdout: string): Map<FullScanSection, string[]> {
  const sections = new Map<FullScanSection, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(SECTION_MARKER)) {
      const name = line.slice(SECTION_MARKER.length).trim();
      current = (FULL_SCAN_SECTIONS as readonly string[]).includes(name) ? [] : undefined;
      if (current) sections.set(name as FullScanSection, current);
    } else if (current && line !== '') {
      current.push(line.length > MAX_LINE_LENGTH ? line.slice(0, MAX_LINE_LENGTH) : line);
    }
  }
  return sections;
}

function keyValues(lines: string[], separator = '='): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of lines) {
    const at = line.indexOf(separator);
    if (at > 0 && !map.has(line.slice(0, at).trim())) map.set(line.slice(0, at).trim(), line.slice(at + separator.length).trim());
  }
  return map;
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
}

function integer(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  return Number(value);
}

function parseOs(lines: string[]): Facts['os'] {
  const kv = keyValues(lines);
  const id = kv.get('ID');
  if (!id) return null;
  const versionId = kv.get('VERSION_ID');
  return { id: unquote(id), name: unquote(kv.get('PRETTY_NAME') ?? kv.get('NAME') ?? id), versionId: versionId ? unquote(versionId) : null };
}

function parseKernel(lines: string[]): Facts['kernel'] {
  const kv = keyValues(lines);
  const release = kv.get('release');
  if (!release) return null;
  return { release, machine: kv.get('machine') ?? '', hostname: kv.get('hostname') ?? '' };
}

function parseUptime(lines: string[]): Facts['uptime'] {
  const kv = keyValues(lines);
  const seconds = Number(kv.get('uptime')?.split(/\s+/)[0]);
  const [load1, load5, load15] = (kv.get('loadavg') ?? '').split(/\s+/).map(Number);
  if (!Number.isFinite(seconds) || load1 === undefined || load5 === undefined || load15 === undefined || [load1, load5, load15].some(Number.isNaN)) {
    return null;
  }
  return { seconds, load1, load5, load15 };
}

function parseCpu(lines: string[]): Facts['cpu'] {
  const kv = keyValues(lines);
  const count = integer(kv.get('online'));
  if (!count) return null;
  return { count, available: integer(kv.get('available')) || null, model: kv.get('model') || null };
}

function parseMemory(lines: string[]): Facts['memory'] {
  const kv = keyValues(lines, ':');
  // /proc/meminfo says "kB" but means KiB.
  const bytes = (key: string) => {
    // endsWith, not /\s*kB$/: that regex is quadratic on a long run of spaces the host prints.
    const value = kv.get(key);
    const kib = integer(value?.endsWith('kB') ? value.slice(0, -2).trimEnd() : value);
    return kib === null ? null : kib * 1024;
  };
  const totalBytes = bytes('MemTotal');
  if (totalBytes === null) return null;
  return { totalBytes, availableBytes: bytes('MemAvailable'), swapTotalBytes: bytes('SwapTotal'), swapFreeBytes: bytes('SwapFree') };
}

// Memory-backed and kernel filesystems say nothing about storage.
const PSEUDO_FILESYSTEMS = new Set(['tmpfs', 'devtmpfs', 'udev', 'shm', 'none', 'proc', 'sysfs', 'cgroup', 'cgroup2', 'efivarfs']);

function parseDisks(lines: string[]): Disk[] | null {
  const disks: Disk[] = [];
  for (const line of lines) {
    // POSIX df -P: filesystem, 1024-blocks, used, available, capacity, mount point (which may hold spaces).
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$/.exec(line);
    if (!m || PSEUDO_FILESYSTEMS.has(m[1]!)) continue;
    disks.push({
      filesystem: m[1]!,
      mount: m[6]!,
      sizeBytes: Number(m[2]) * 1024,
      usedBytes: Number(m[3]) * 1024,
      availableBytes: Number(m[4]) * 1024,
      usedPercent: Number(m[5]),
    });
  }
  return disks.length > 0 ? disks : null;
}

/** /proc/net stores each 32-bit word of an address in host (little-endian) byte order. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  const ipv6 = groups.join(':');
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(ipv6);
  if (mapped) return `::ffff:${bytes.slice(12).join('.')}`;
  // Compress the first run of two or more zero groups (RFC 5952 picks the longest; the first is enough to read).
  return ipv6.replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

function parsePorts(lines: string[]): ListeningPort[] {
  const seen = new Set<string>();
  const ports: ListeningPort[] = [];
  for (const line of lines) {
    const m = /^(tcp|udp)6?\s+([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$/i.exec(line);
    if (!m) continue;
    const port: ListeningPort = { protocol: m[1] as 'tcp' | 'udp', address: decodeAddress(m[2]!), port: parseInt(m[3]!, 16) };
    const key = `${port.protocol} ${port.address} ${port.port}`;
    if (!seen.has(key)) ports.push(port);
    seen.add(key);
  }
  return ports.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port || a.address.localeCompare(b.address));
}

function parsePackages(lines: string[], notes: string[]): Facts['packages'] {
  const kv = keyValues(lines);
  const manager = kv.get('manager');
  if (manager !== 'apt' && manager !== 'dpkg' && manager !== 'dnf' && manager !== 'yum' && manager !== 'apk') return null;
  const upgradableError = kv.get('upgradable-error');
  if (upgradableError) notes.push(`upgradable packages unknown: ${upgradableError}`);
  else if (kv.has('upgradable')) notes.push('upgradable count is from the package index as it was; a scan does not refresh it');
  return { manager, installed: integer(kv.get('installed')), upgradable: integer(kv.get('upgradable')), security: upgradableError ? null : integer(kv.get('security')) };
}

function parseFailedUnits(lines: string[]): string[] | null {
  if (!lines.includes('checked=yes')) return null;
  return lines.filter((l) => l.startsWith('failed=')).map((l) => l.slice('failed='.length));
}

function parseReboot(lines: string[]): boolean | null {
  const value = keyValues(lines).get('required');
  return value === 'yes' ? true : value === 'no' ? false : null;
}

const FACT_NAMES: Partial<Record<FullScanSection, string>> = {
  os: 'OS release',
  kernel: 'kernel',
  uptime: 'uptime and load',
  cpu: 'CPUs',
  memory: 'memory',
  disk: 'disk use',
  ports: 'listening ports',
  packages: 'packages',
  systemd: 'failed systemd units',
  sshd: 'sshd settings',
  reboot: 'pending reboot',
};

/** Turns the script's stdout into the typed result. Never throws on odd output: a fact it cannot read is null with a note. */
export function parseFullScanOutput(stdout: string, collectedAt: Date): FullScanResult {
  const sections = splitSections(stdout);
  const notes: string[] = [];
  const read = <T>(section: FullScanSection, parse: (lines: string[]) => T | null): T | null => {
    const lines = sections.get(section);
    if (!lines) {
      notes.push(`${FACT_NAMES[section]}: the script printed no such section`);
      return null;
    }
    const unavailable = lines.find((l) => l.startsWith(UNAVAILABLE));
    if (unavailable) {
      notes.push(`${FACT_NAMES[section]}: ${unavailable.slice(UNAVAILABLE.length)}`);
      return null;
    }
    const value = parse(lines);
    if (value === null) notes.push(`${FACT_NAMES[section]}: output not understood`);
    return value;
  };
  const facts: Facts = {
    os: read('os', parseOs),
    kernel: read('kernel', parseKernel),
    uptime: read('uptime', parseUptime),
    cpu: read('cpu', parseCpu),
    memory: read('memory', parseMemory),
    disks: read('disk', parseDisks),
    listeningPorts: read('ports', parsePorts),
    packages: read('packages', (lines) => parsePackages(lines, notes)),
    failedUnits: read('systemd', parseFailedUnits),
    sshd: read('sshd', (lines) => sshdSettingsOf(lines, notes)),
    rebootRequired: read('reboot', parseReboot),
  };
  if (!sections.has('end')) notes.push('the script did not run to its end');
  return { collectedAt: collectedAt.toISOString(), ...facts, notes, findings: findingsOf(facts) };
}
