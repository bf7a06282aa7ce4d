import { randomInt } from 'node:crypto';
import { startTestSshd, type TestSshd } from './sshd.js';

/** One sshd listens on at most 16 addresses (a fixed array in OpenSSH's servconf), so a larger fleet starts several. */
const ADDRESSES_PER_SSHD = 16;

export interface TestSshdFleet {
  /** One target per address: 127.<n>.<m>.2, .3, …; members of one sshd share its port, keys and folders. */
  members: TestSshd[];
  /** Stops every sshd. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * `count` SSH endpoints on distinct loopback addresses, served by ceil(count / 16) sshd processes. The second and third
 * octets are random per fleet, so parallel test files never share an address.
 */
export async function startTestSshdFleet(count: number): Promise<TestSshdFleet> {
  if (!Number.isInteger(count) || count < 1 || count > 250) throw new Error(`a test fleet has 1 to 250 members, not ${count}`);
  const prefix = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
  const addresses = Array.from({ length: count }, (_, i) => `${prefix}.${i + 2}`);
  const groups: string[][] = [];
  for (let i = 0; i < addresses.length; i += ADDRESSES_PER_SSHD) groups.push(addresses.slice(i, i + ADDRESSES_PER_SSHD));
  const started = await Promise.allSettled(groups.map(([first, ...rest]) => startTestSshd({ host: first, alsoListenOn: rest })));
  const sshds = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(sshds.map((s) => s.stop()));
    throw failed.reason;
  }
  const members = sshds.flatMap((sshd, i) => (groups[i] ?? []).map((host) => ({ ...sshd, host })));
  return { members, stop: async () => void (await Promise.all(sshds.map((s) => s.stop()))) };
}
