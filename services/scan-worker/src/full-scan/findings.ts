import type { Finding, FullScanResult } from './result-schema.js';

type Facts = Omit<FullScanResult, 'collectedAt' | 'notes' | 'findings'>;

const GIB = 1024 ** 3;
const DAY_SECONDS = 86_400;

function diskFindings(disks: Facts['disks']): Finding[] {
  return (disks ?? []).flatMap((d): Finding[] => {
    const severity = d.usedPercent >= 98 ? 'critical' : d.usedPercent >= 95 ? 'high' : d.usedPercent >= 90 ? 'medium' : d.usedPercent >= 80 ? 'low' : null;
    if (!severity) return [];
    return [{ severity, code: 'disk-usage', message: `${d.mount} is ${d.usedPercent}% full (${(d.availableBytes / GIB).toFixed(1)} GiB free)` }];
  });
}

function memoryFindings(memory: Facts['memory']): Finding[] {
  if (!memory || memory.availableBytes === null || memory.totalBytes === 0) return [];
  const free = (memory.availableBytes / memory.totalBytes) * 100;
  const severity = free < 5 ? 'high' : free < 10 ? 'medium' : null;
  return severity ? [{ severity, code: 'memory-low', message: `only ${free.toFixed(1)}% of memory is available` }] : [];
}

function loadFindings(uptime: Facts['uptime'], cpu: Facts['cpu']): Finding[] {
  const findings: Finding[] = [];
  if (uptime && cpu) {
    const perCpu = uptime.load5 / cpu.count;
    if (perCpu >= 2) findings.push({ severity: 'medium', code: 'load-high', message: `5-minute load ${uptime.load5} on ${cpu.count} CPUs` });
    else if (perCpu >= 1) findings.push({ severity: 'low', code: 'load-high', message: `5-minute load ${uptime.load5} on ${cpu.count} CPUs` });
  }
  if (uptime && uptime.seconds > 365 * DAY_SECONDS) {
    findings.push({ severity: 'low', code: 'long-uptime', message: `up ${Math.floor(uptime.seconds / DAY_SECONDS)} days: kernel updates are not applied until a reboot` });
  }
  return findings;
}

function sshdFindings(sshd: Facts['sshd']): Finding[] {
  if (!sshd) return [];
  const findings: Finding[] = [];
  if (sshd.permitRootLogin === 'yes') {
    findings.push({ severity: 'high', code: 'ssh-root-login', message: 'sshd lets root log in by any method, passwords included (PermitRootLogin yes)' });
  } else if (sshd.permitRootLogin !== 'no') {
    findings.push({ severity: 'info', code: 'ssh-root-login', message: `sshd allows root to log in with a key (PermitRootLogin ${sshd.permitRootLogin})` });
  }
  if (sshd.passwordAuthentication === 'yes') {
    findings.push({ severity: 'medium', code: 'ssh-password-auth', message: 'sshd accepts passwords (PasswordAuthentication yes): prefer keys only' });
  }
  return findings;
}

/** Judges the gathered facts. Thresholds are deliberately plain so an operator can predict them. */
export function findingsOf(facts: Facts): Finding[] {
  const findings = [...diskFindings(facts.disks), ...memoryFindings(facts.memory), ...loadFindings(facts.uptime, facts.cpu), ...sshdFindings(facts.sshd)];
  if (facts.failedUnits && facts.failedUnits.length > 0) {
    findings.push({ severity: 'medium', code: 'failed-units', message: `failed systemd units: ${facts.failedUnits.join(', ')}` });
  }
  if (facts.packages?.upgradable) {
    findings.push({ severity: 'low', code: 'updates-available', message: `${facts.packages.upgradable} package updates available (${facts.packages.manager})` });
  }
  if (facts.rebootRequired) findings.push({ severity: 'medium', code: 'reboot-required', message: 'a reboot is pending to finish installed updates' });
  const exposed = (facts.listeningPorts ?? []).filter((p) => !/^(127\.|::1$|::ffff:127\.)/.test(p.address));
  if (exposed.length > 0) {
    const list = exposed.map((p) => `${p.protocol}/${p.port}`);
    findings.push({ severity: 'info', code: 'listening-ports', message: `listening beyond loopback: ${[...new Set(list)].join(', ')}` });
  }
  return findings;
}
