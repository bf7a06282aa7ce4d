import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, QueueEvents } from 'bullmq';
import { parseEnv } from '@mm/config';
import { servers, updates, type Server } from '@mm/db';
import { createProducer, createQueueEvents, type Producer, type UpdateOptions } from '@mm/jobs';
import { SshPool } from '@mm/ssh';
import { createTestDatabase, createTestRedis, insertTestServer, startTestSshd, type FakePackage, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';
import { runWorker, type RunningWorker } from '@mm/worker-runtime';
import { UpdateWorkerEnv } from '../src/env.js';
import { createUpdateHandlers, updateSettingsOf } from '../src/handlers.js';
import type { UpdateResult } from '../src/update-result.js';

// The test host is this machine: against its real apt only dry runs, and a non-dry run that must be refused before it
// runs anything. Real (non-dry) runs go to a stand-in server whose apt, dpkg-query and sudo are the test kit's fake
// package manager (packages/testing/src/fake-package-manager.ts): it runs as the unprivileged test user and only
// rewrites its own state file.

const CREDENTIALS_KEY = randomBytes(32).toString('hex');

/** The stand-in's packages: openssl pulls libssl3 along; curl is current; tzdata and nginx are plain upgrades. */
const FAKE_PACKAGES: FakePackage[] = [
  { name: 'curl', installed: '7.88.1-10+deb12u8', candidate: '7.88.1-10+deb12u8' },
  { name: 'libssl3', installed: '3.0.14-1~deb12u2', candidate: '3.0.15-1~deb12u1', security: true },
  { name: 'nginx', installed: '1.22.1-9', candidate: '1.22.1-9+deb12u1', security: true },
  { name: 'openssl', installed: '3.0.14-1~deb12u2', candidate: '3.0.15-1~deb12u1', security: true, requires: ['libssl3'] },
  { name: 'tzdata', installed: '2024a-0+deb12u1', candidate: '2025b-0+deb12u1' },
];

/** A kernel upgrade asks for a reboot (the stand-in's needs-restarting says so until it rebooted). */
const KERNEL_PACKAGES: FakePackage[] = [
  { name: 'linux-image-amd64', installed: '6.1.119-1', candidate: '6.1.123-1', security: true, reboot: true },
  { name: 'tzdata', installed: '2024a-0+deb12u1', candidate: '2025b-0+deb12u1' },
];
const DPKG_STATUS = '/var/lib/dpkg/status';

let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let server: Server;
/** A stand-in server: its apt, dpkg-query and sudo are the test kit's fake package manager (nothing real is upgraded). */
let fakeSshd: TestSshd;
let fakeServer: Server;
/** Stand-ins whose `reboot` restarts their sshd: with a new boot id, with the same one, or never. */
let rebootSshd: TestSshd;
let sameBootIdSshd: TestSshd;
let downSshd: TestSshd;
let newKeySshd: TestSshd;
const rebootServers: Record<'reboots' | 'sameBootId' | 'staysDown' | 'newHostKey', Server> = {} as never;
let worker: RunningWorker;
let producer: Producer;
let events: QueueEvents;
const progress = new Map<string, number[]>();

/** What must not change: the package database's mtime and the installed package list. */
function packageState(): { mtimeMs: number; dpkgList: string } {
  const list = execFileSync('dpkg', ['-l'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { mtimeMs: statSync(DPKG_STATUS).mtimeMs, dpkgList: createHash('sha256').update(list).digest('hex') };
}

beforeAll(async () => {
  [db, redis, sshd, fakeSshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd(), startTestSshd({ fakePackageManager: { packages: FAKE_PACKAGES } })]);
  server = await insertTestServer(db.db, sshd, { credentialsKey: CREDENTIALS_KEY });
  fakeServer = await insertTestServer(db.db, fakeSshd, { credentialsKey: CREDENTIALS_KEY, name: 'fake-apt' });
  [rebootSshd, sameBootIdSshd, downSshd, newKeySshd] = await Promise.all([
    startTestSshd({ fakePackageManager: { packages: KERNEL_PACKAGES } }),
    startTestSshd({ fakePackageManager: { packages: [], rebootRequired: true, onReboot: 'keep-boot-id' } }),
    startTestSshd({ fakePackageManager: { packages: [], rebootRequired: true, onReboot: 'stay-down' } }),
    startTestSshd({ fakePackageManager: { packages: [], rebootRequired: true, onReboot: 'new-host-key' } }),
  ]);
  rebootServers.reboots = await insertTestServer(db.db, rebootSshd, { credentialsKey: CREDENTIALS_KEY, name: 'fake-kernel' });
  rebootServers.sameBootId = await insertTestServer(db.db, sameBootIdSshd, { credentialsKey: CREDENTIALS_KEY, name: 'fake-no-reboot' });
  rebootServers.staysDown = await insertTestServer(db.db, downSshd, { credentialsKey: CREDENTIALS_KEY, name: 'fake-stays-down' });
  rebootServers.newHostKey = await insertTestServer(db.db, newKeySshd, { credentialsKey: CREDENTIALS_KEY, name: 'fake-new-key' });
  const env = parseEnv(UpdateWorkerEnv, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY,
    HEALTH_PORT: '0',
    // The stand-ins' boot id is a file their fake reboot rewrites; this machine's /proc one never changes here.
    UPDATE_BOOT_ID_COMMAND: 'cat "$MM_FAKE_STATE/boot_id"',
    UPDATE_REBOOT_TIMEOUT_S: '10',
    UPDATE_REBOOT_POLL_MS: '200',
  });
  worker = await runWorker({ queue: 'update', env, concurrency: 1, handlers: createUpdateHandlers(updateSettingsOf(env)) });
  producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  events = createQueueEvents('update', { connection: redis.url, prefix: redis.prefix });
  events.on('progress', ({ jobId, data }) => {
    if (typeof data === 'number') progress.set(jobId, [...(progress.get(jobId) ?? []), data]);
  });
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await producer?.close();
  await worker?.close();
  await sshd?.stop();
  await fakeSshd?.stop();
  await Promise.all([rebootSshd?.stop(), sameBootIdSshd?.stop(), downSshd?.stop(), newKeySshd?.stop()]);
  await redis?.cleanup();
  await db?.drop();
});

async function runUpdate(options: UpdateOptions, serverId = server.id): Promise<{ state: 'completed' | 'failed'; job: Job; error?: string }> {
  const job = await producer.enqueue('update:server', { serverId, updateId: randomUUID(), userId: null, options }, { backoff: { type: 'fixed', delay: 100 } });
  try {
    await job.waitUntilFinished(events);
  } catch (err) {
    return { state: 'failed', job: (await producer.queue('update').getJob(job.id!))!, error: (err as Error).message };
  }
  return { state: 'completed', job: (await producer.queue('update').getJob(job.id!))! };
}

const updateOf = async (id: string) => (await db.db.select().from(updates).where(eq(updates.id, id)))[0]!;
const pendingOf = async (id: string) =>
  (await db.db.select({ upgradablePackages: servers.upgradablePackages, securityUpdates: servers.securityUpdates }).from(servers).where(eq(servers.id, id)))[0];
const logsOf = async (id: string) => (await producer.queue('update').getJobLogs(id, 0, -1)).logs;

/** The packages apt itself lists as upgradable from the current index on this machine. */
function localUpgradable(): string[] {
  const out = execFileSync('apt', ['list', '--upgradable'], { encoding: 'utf8', env: { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').flatMap((l) => (/\[upgradable from: /.test(l) ? [l.split('/')[0]!] : [])).sort();
}

describe('update:server dry run', () => {
  it('lists upgradable packages and what would change, changing nothing', async () => {
    const before = packageState();
    const { state, job, error } = await runUpdate({ dry_run: true });
    expect(error).toBeUndefined();
    expect(state).toBe('completed');
    expect(packageState()).toEqual(before);

    const record = await updateOf(job.id!);
    expect(record.status).toBe('completed');
    expect(record.dryRun).toBe(true);
    expect(record.packages).toBeNull();
    expect(record.rebootRequired).toBe(existsSync('/var/run/reboot-required'));
    const result = record.result as UpdateResult;
    expect(result.packageManager).toBe('apt');
    expect(result.dryRun).toBe(true);
    // mmtest is neither root nor a sudoer: the index stays as it is, and the result says so.
    expect(result.refreshed).toBe(false);
    expect(result.notes.some((n) => n.startsWith('package index not refreshed'))).toBe(true);
    expect(Array.isArray(result.upgradable)).toBe(true);
    expect(result.upgradable.map((p) => p.name).sort()).toEqual(localUpgradable());
    for (const p of result.upgradable) {
      expect(typeof p.candidate).toBe('string');
      expect(p.current).not.toBe(p.candidate);
    }
    const upgradableNames = new Set(result.upgradable.map((p) => p.name));
    for (const c of result.changed.filter((c) => c.from !== null)) expect(upgradableNames.has(c.name)).toBe(true);
    expect(result.rebootRequired).toBe(record.rebootRequired);

    expect(progress.get(job.id!)).toEqual([10, 20, 30, 40, 50, 60, 80, 90, 100]);
    const logs = await logsOf(job.id!);
    expect(logs).toContain('$ LC_ALL=C apt list --upgradable 2>/dev/null');
  });

  it('previews only the requested packages and notes the ones it cannot upgrade', async () => {
    const before = packageState();
    const { state, job } = await runUpdate({ dry_run: true, packages: ['mm-no-such-package'] });
    expect(state).toBe('completed');
    expect(packageState()).toEqual(before);
    const record = await updateOf(job.id!);
    expect(record.packages).toEqual(['mm-no-such-package']);
    const result = record.result as UpdateResult;
    expect(result.changed).toEqual([]);
    expect(result.notes).toContain('not upgradable (not installed or already current): mm-no-such-package');
  });
});

describe('update:server with package holds', () => {
  const setHolds = (packages: string[]) => db.db.update(servers).set({ packageHolds: packages }).where(eq(servers.id, server.id));

  it('never asks for a held package and reports it as held', async () => {
    await setHolds(['mm-held-package']);
    try {
      const before = packageState();
      const { state, job } = await runUpdate({ dry_run: true, packages: ['mm-held-package', 'mm-no-such-package'] });
      expect(state).toBe('completed');
      expect(packageState()).toEqual(before);
      const result = (await updateOf(job.id!)).result as UpdateResult;
      expect(result.held).toEqual(['mm-held-package']);
      expect(result.changed).toEqual([]);
      expect(result.notes).toEqual(expect.arrayContaining(['held, not upgraded: mm-held-package', 'not upgradable (not installed or already current): mm-no-such-package', 'nothing to upgrade']));
      expect((await logsOf(job.id!)).filter((l) => l.includes('mm-held-package'))).toEqual([]);
    } finally {
      await setHolds([]);
    }
  });

  const setFakeHolds = (packages: string[]) => db.db.update(servers).set({ packageHolds: packages }).where(eq(servers.id, fakeServer.id));
  const logLine = async (jobId: string, prefix: string) => (await logsOf(jobId)).find((l) => l.startsWith(prefix));

  it('upgrading everything past a hold previews only the others (the stand-in package manager)', async () => {
    await setFakeHolds(['nginx']);
    try {
      const { state, job, error } = await runUpdate({ dry_run: true }, fakeServer.id);
      expect(error).toBeUndefined();
      expect(state).toBe('completed');
      const result = (await updateOf(job.id!)).result as UpdateResult;
      // The plan keeps what was upgradable (the held one too) and says what it left alone.
      expect(result.upgradable.map((p) => p.name)).toEqual(['libssl3', 'nginx', 'openssl', 'tzdata']);
      expect(result.upgradable.find((p) => p.name === 'openssl')).toEqual({ name: 'openssl', current: '3.0.14-1~deb12u2', candidate: '3.0.15-1~deb12u1', security: true });
      expect(result.upgradable.filter((p) => p.security).map((p) => p.name)).toEqual(['libssl3', 'nginx', 'openssl']);
      // A dry run leaves everything pending: the server row says so for the fleet summary.
      expect(await pendingOf(fakeServer.id)).toEqual({ upgradablePackages: 4, securityUpdates: 3 });
      expect(result.held).toEqual(['nginx']);
      expect(result.notes).toContain('held, not upgraded: nginx');
      // apt was asked for the others by name, never for the held one; its simulation is the plan.
      expect(await logLine(job.id!, '$ LC_ALL=C apt-get -s -q install --only-upgrade ')).toBe("$ LC_ALL=C apt-get -s -q install --only-upgrade 'libssl3' 'openssl' 'tzdata'");
      expect(result.changed.map((c) => c.name)).toEqual(['libssl3', 'openssl', 'tzdata']);
      expect(result.changed.find((c) => c.name === 'tzdata')).toEqual({ name: 'tzdata', from: '2024a-0+deb12u1', to: '2025b-0+deb12u1' });
      // A dry run upgrades nothing, even where sudo works (the stand-in's sudo runs as the same user).
      expect(result.refreshed).toBe(true);
      expect(await fakeSshd.fakePackageManager!.upgraded()).toEqual([]);
    } finally {
      await setFakeHolds([]);
    }
  });

  it('refuses, changing nothing, when upgrading a package would pull a held one along', async () => {
    await setFakeHolds(['libssl3']);
    try {
      // openssl needs the new libssl3: apt has no exclude option, so its simulation shows the held one pulled along.
      const { state, job, error } = await runUpdate({ dry_run: false, packages: ['openssl'] }, fakeServer.id);
      expect(state).toBe('failed');
      expect(job.attemptsMade).toBe(1);
      expect(error).toBe('update on fake-apt refused: it would also upgrade held libssl3 (pulled in as dependencies); nothing was changed');
      expect(await fakeSshd.fakePackageManager!.upgraded()).toEqual([]);
      expect((await logsOf(job.id!)).some((l) => l.includes('apt-get -y'))).toBe(false);
    } finally {
      await setFakeHolds([]);
    }
  });

  it('a real run upgrades the others, leaves the held one, and reports both', async () => {
    const fake = fakeSshd.fakePackageManager!;
    // Guard: the commands this test runs as "root" are the stand-in's, on the session's PATH, never the machine's.
    const pool = new SshPool({ hostPolicy: { allowLoopback: true, deny: [] } });
    try {
      const session = await pool.session(fakeServer.id, fakeSshd);
      for (const command of ['sudo', 'apt-get', 'apt', 'dpkg-query']) {
        expect((await session.exec(`command -v ${command}`)).stdout.trim()).toBe(`${fake.binDir}/${command}`);
      }
    } finally {
      await pool.close();
    }
    const before = packageState();
    await setFakeHolds(['tzdata']);
    try {
      const { state, job, error } = await runUpdate({ dry_run: false, packages: ['openssl', 'tzdata', 'curl'] }, fakeServer.id);
      expect(error).toBeUndefined();
      expect(state).toBe('completed');
      const record = await updateOf(job.id!);
      const result = record.result as UpdateResult;
      expect(record.dryRun).toBe(false);
      expect(result.held).toEqual(['tzdata']);
      expect(result.notes).toEqual(expect.arrayContaining(['held, not upgraded: tzdata', 'not upgradable (not installed or already current): curl']));
      // openssl was asked for; libssl3 came along as its dependency (read back from the installed versions).
      expect(await logLine(job.id!, "$ 'sudo' '-n' 'env' 'DEBIAN_FRONTEND=noninteractive' 'apt-get'")).toMatch(/ 'install' '--only-upgrade' 'openssl'$/);
      expect(result.changed).toEqual([
        { name: 'libssl3', from: '3.0.14-1~deb12u2', to: '3.0.15-1~deb12u1' },
        { name: 'openssl', from: '3.0.14-1~deb12u2', to: '3.0.15-1~deb12u1' },
      ]);
      expect(await fake.upgraded()).toEqual([
        { name: 'libssl3', from: '3.0.14-1~deb12u2', to: '3.0.15-1~deb12u1' },
        { name: 'openssl', from: '3.0.14-1~deb12u2', to: '3.0.15-1~deb12u1' },
      ]);
      // Left pending: tzdata (held) and nginx; nginx is the one security update left.
      expect(await pendingOf(fakeServer.id)).toEqual({ upgradablePackages: 2, securityUpdates: 1 });
      const installed = await fake.installed();
      expect(installed.get('tzdata')).toBe('2024a-0+deb12u1');
      expect(installed.get('nginx')).toBe('1.22.1-9');
      // This machine's own packages did not move.
      expect(packageState()).toEqual(before);
    } finally {
      await setFakeHolds([]);
    }
  });

});

describe('update:server without dry run', () => {
  it('fails once with a clear message when the user is not root and sudo -n is refused', async () => {
    // Guard: this test must never reach an upgrade. If mmtest could sudo, stop here instead.
    const pool = new SshPool({ hostPolicy: { allowLoopback: true, deny: [] } });
    try {
      const session = await pool.session(server.id, sshd);
      const sudo = await session.exec('sudo -n true');
      expect(sudo.code, 'mmtest must not have passwordless sudo on this machine').not.toBe(0);
    } finally {
      await pool.close();
    }
    const before = packageState();
    // A package that does not exist: even a mistaken run could not change anything.
    const { state, job, error } = await runUpdate({ dry_run: false, packages: ['mm-no-such-package'] });
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(error).toMatch(/needs root: connected as mmtest \(uid \d+\) and sudo/);
    expect(packageState()).toEqual(before);

    const record = await updateOf(job.id!);
    expect(record.status).toBe('failed');
    expect(record.error).toBe(error);
    expect(record.dryRun).toBe(false);
    // Refused before any package command ran.
    expect((await logsOf(job.id!)).filter((l) => l.startsWith('$ '))).toEqual([]);
  });
});

describe('update:server with reboot', () => {
  // The host itself may need a reboot (/var/run/reboot-required is read before the stand-in's needs-restarting).
  const hostNeedsReboot = existsSync('/var/run/reboot-required');

  it('reboot "never" (the default) upgrades and reports the reboot it needs, without rebooting', async () => {
    const fake = rebootSshd.fakePackageManager!;
    const { state, job, error } = await runUpdate({ dry_run: false, packages: ['linux-image-amd64'] }, rebootServers.reboots.id);
    expect(error).toBeUndefined();
    expect(state).toBe('completed');
    const record = await updateOf(job.id!);
    const result = record.result as UpdateResult;
    expect(result.changed).toEqual([{ name: 'linux-image-amd64', from: '6.1.119-1', to: '6.1.123-1' }]);
    expect(result.rebootRequired).toBe(true);
    expect(record.rebootRequired).toBe(true);
    expect(result.rebooted).toBe(false);
    expect(fake.reboots()).toBe(0);
  });

  it('a dry run with reboot "if-required" only says a real run would reboot', async () => {
    const fake = rebootSshd.fakePackageManager!;
    const bootId = await fake.bootId();
    const { state, job } = await runUpdate({ dry_run: true, reboot: 'if-required' }, rebootServers.reboots.id);
    expect(state).toBe('completed');
    const result = (await updateOf(job.id!)).result as UpdateResult;
    expect(result.rebooted).toBe(false);
    expect(result.notes).toContain('a reboot is required: a real run with reboot "if-required" would reboot the server');
    expect(fake.reboots()).toBe(0);
    expect(await fake.bootId()).toBe(bootId);
  });

  it('reboot "if-required" reboots a server that needs it, waits for it with the same host key and a new boot id', async () => {
    const fake = rebootSshd.fakePackageManager!;
    const bootIdBefore = await fake.bootId();
    // tzdata is still upgradable; the reboot the kernel asked for is still pending.
    const { state, job, error } = await runUpdate({ dry_run: false, reboot: 'if-required' }, rebootServers.reboots.id);
    expect(error).toBeUndefined();
    expect(state).toBe('completed');
    expect(fake.reboots()).toBe(1);
    const bootIdAfter = await fake.bootId();
    expect(bootIdAfter).not.toBe(bootIdBefore);
    const record = await updateOf(job.id!);
    const result = record.result as UpdateResult;
    expect(result.changed).toEqual([{ name: 'tzdata', from: '2024a-0+deb12u1', to: '2025b-0+deb12u1' }]);
    expect(result.rebooted).toBe(true);
    expect(result.notes).toContain(`rebooted: boot id ${bootIdBefore} -> ${bootIdAfter}`);
    // Asked again after the reboot: the stand-in no longer needs one.
    expect(result.rebootRequired).toBe(hostNeedsReboot);
    expect(record.rebootRequired).toBe(hostNeedsReboot);
    const logs = await logsOf(job.id!);
    expect(logs).toContain("$ sudo -n reboot");
    expect(logs).toContain(`back after the reboot: boot id ${bootIdBefore} -> ${bootIdAfter}`);
  });

  it('reboot "if-required" on a server that needs none does not reboot', async () => {
    if (hostNeedsReboot) return; // this machine's own flag would make every stand-in need one
    const fake = rebootSshd.fakePackageManager!;
    const { state, job } = await runUpdate({ dry_run: false, reboot: 'if-required' }, rebootServers.reboots.id);
    expect(state).toBe('completed');
    const result = (await updateOf(job.id!)).result as UpdateResult;
    expect(result.rebootRequired).toBe(false);
    expect(result.rebooted).toBe(false);
    expect(fake.reboots()).toBe(1);
  });

  it('fails with the reason when the server comes back with the same boot id', async () => {
    const fake = sameBootIdSshd.fakePackageManager!;
    const bootId = await fake.bootId();
    const { state, job, error } = await runUpdate({ dry_run: false, reboot: 'if-required' }, rebootServers.sameBootId.id);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(fake.reboots()).toBe(1);
    expect(error).toMatch(new RegExp(`^reboot of fake-no-reboot failed: .*same boot id ${bootId}`));
    const record = await updateOf(job.id!);
    expect(record.status).toBe('failed');
    expect(record.error).toBe(error);
  });

  it('fails with the reason when the server does not come back within the timeout', async () => {
    const fake = downSshd.fakePackageManager!;
    const { state, job, error } = await runUpdate({ dry_run: false, reboot: 'if-required' }, rebootServers.staysDown.id);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(fake.reboots()).toBe(1);
    expect(error).toMatch(/^reboot of fake-stays-down failed: SSH did not come back within 10 s \(last error: /);
  });

  it('fails at once when the server comes back with another host key (the pin holds)', async () => {
    const { state, job, error } = await runUpdate({ dry_run: false, reboot: 'if-required' }, rebootServers.newHostKey.id);
    expect(state).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(newKeySshd.fakePackageManager!.reboots()).toBe(1);
    expect(error).toMatch(/^reboot of fake-new-key failed: it came back with another host key: /);
    // The pin was not moved to the new key.
    expect((await db.db.select().from(servers).where(eq(servers.id, rebootServers.newHostKey.id)))[0]!.hostKeyFingerprint).toBe(newKeySshd.hostKeyFingerprint);
  });
});
