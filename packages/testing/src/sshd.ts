import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ensureDebianPackage } from './debian-package.js';
import { installFakePackageManager, REBOOT_REQUESTED, type FakePackageManager, type FakePackageManagerOptions, type InstalledFakePackageManager } from './fake-package-manager.js';
import { encryptCredentials, servers, type Db, type Server, type ServerCredentials } from '@mm/db';

const run = promisify(execFile);

const SSHD = '/usr/sbin/sshd';
const REBOOT_DOWNTIME_MS = 1_000;
export const TEST_SSH_USER = 'mmtest';

/** A throwaway OpenSSH server on loopback. Structurally an `SshTarget` of @mm/ssh (host, port, username, credentials, hostKeyFingerprint). */
export interface TestSshd {
  host: string;
  port: number;
  username: string;
  /** OpenSSH-format ed25519 private key authorised for `username` on this sshd only. */
  privateKey: string;
  /** `SHA256:<base64, no padding>`, exactly as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** Temp dir holding this sshd's config, keys and pid file. */
  dir: string;
  /** Temp dir owned by the test user: put backup sources and restore targets under it. */
  workDir: string;
  credentials: ServerCredentials;
  /** With `fakePackageManager`: what the stand-in recorded. */
  fakePackageManager?: FakePackageManager;
  /** Kills sshd and removes both temp dirs. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartTestSshdOptions {
  /** Any 127.0.0.x address; several sshds on different addresses make a small fleet. */
  host?: string;
  /** More loopback addresses the same sshd listens on, on the same port (sshd takes at most 16 in all). */
  alsoListenOn?: string[];
  /**
   * A stand-in package manager (`apt`, `apt-get`, `dpkg-query`, a `sudo` that never escalates, `needs-restarting`,
   * `reboot`) first on the PATH of this sshd's sessions, with a known set of packages; nothing it does leaves its temp
   * folders. Its `reboot` makes this sshd restart on the same address, port and host key (a boot id file changes).
   */
  fakePackageManager?: FakePackageManagerOptions;
}

// Every sshd this process started, so a crashed test run does not leave listeners behind.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `SHA256:` + unpadded base64 of the sha256 of the key blob in an OpenSSH `.pub` line. */
export function fingerprintOfPublicKey(pubLine: string): string {
  const blob = pubLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error('not an OpenSSH public key line');
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Creates the unprivileged test user once per machine. `useradd -m` leaves the password locked ('!'),
 * and with `UsePAM no` sshd refuses even a valid key for a locked account, so it is set to '*'.
 * The flock serialises parallel test files (useradd fails when /etc/passwd is locked).
 */
async function ensureTestUser(): Promise<{ uid: number; gid: number }> {
  const script = [
    `id -u ${TEST_SSH_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash ${TEST_SSH_USER}`,
    `[ "$(getent shadow ${TEST_SSH_USER} | cut -d: -f2)" = '*' ] || usermod -p '*' ${TEST_SSH_USER}`,
  ].join('; ');
  await run('flock', ['/tmp/mm-sshd-user.lock', 'sh', '-c', script]);
  const { stdout } = await run('id', [TEST_SSH_USER]);
  const uid = /uid=(\d+)/.exec(stdout)?.[1];
  const gid = /gid=(\d+)/.exec(stdout)?.[1];
  if (!uid || !gid) throw new Error(`could not read the uid of ${TEST_SSH_USER}: ${stdout}`);
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function sshdConfig(dir: string, hosts: string[], port: number, fake: InstalledFakePackageManager | null): string {
  return [
    // sshd sets these after its compiled-in PATH, so the stand-in's commands come first in every session.
    ...(fake ? [`SetEnv PATH=${fake.binDir}:/usr/local/bin:/usr/bin:/bin MM_FAKE_STATE=${fake.stateDir}`] : []),
    `Port ${port}`,
    ...hosts.map((host) => `ListenAddress ${host}`),
    `HostKey ${join(dir, 'hostkey')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    // Keys live in this temp dir, so the test user's home is never touched.
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${TEST_SSH_USER}`,
    'PermitRootLogin no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'UsePAM no',
    'StrictModes no',
    // OpenSSH's default, stated because the pool's channel cap (8) is chosen below it.
    'MaxSessions 10',
    // Scale tests open many connections at once; the default 10:30:100 drops some of them.
    'MaxStartups 200',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
    '',
  ].join('\n');
}

/** Every descendant of `pid` (sshd's per-connection processes and the sessions under them), read from /proc. */
async function descendantsOf(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Field 4 is the parent pid; the command name (field 2) may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** A stand-in for a machine going down: sshd and every connection it serves end at once (the clients see the drop). */
async function killSshdTree(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  for (const pid of await descendantsOf(proc.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  proc.kill('SIGKILL');
  await exited;
}

/** Starts sshd in the foreground and resolves once it logs that it listens; rejects if it exits first. */
function launch(configPath: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (/Server listening on/.test(stderr)) {
        child.stderr?.off('data', onData);
        // Keep draining so a chatty sshd never blocks on a full pipe.
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`sshd exited before listening (code ${code}, signal ${signal}): ${stderr.trim()}`)));
  });
}

export async function startTestSshd(opts: StartTestSshdOptions = {}): Promise<TestSshd> {
  const host = opts.host ?? '127.0.0.1';
  const hosts = [host, ...(opts.alsoListenOn ?? [])];
  for (const h of hosts) if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) throw new Error(`startTestSshd listens on loopback only, not ${h}`);
  if (hosts.length > 16) throw new Error(`one sshd listens on at most 16 addresses, not ${hosts.length}`);
  await ensureDebianPackage(SSHD, 'openssh-server');
  const { uid, gid } = await ensureTestUser();
  // sshd refuses to start without its privilege-separation folder.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(join(tmpdir(), 'mm-sshd-'));
  const workDir = await mkdtemp(join(tmpdir(), 'mm-sshd-work-'));
  let watcher: NodeJS.Timeout | undefined;
  try {
    // sshd reads authorized_keys as the user, so the dir must be traversable by it.
    await chmod(dir, 0o755);
    await chown(workDir, uid, gid);
    await chmod(workDir, 0o755);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mm-test-host', '-f', join(dir, 'hostkey')]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mm-test-user', '-f', join(dir, 'userkey')]);
    const userPub = await readFile(join(dir, 'userkey.pub'), 'utf8');
    await writeFile(join(dir, 'authorized_keys'), userPub, { mode: 0o644 });
    const privateKey = await readFile(join(dir, 'userkey'), 'utf8');
    const hostKeyFingerprint = fingerprintOfPublicKey(await readFile(join(dir, 'hostkey.pub'), 'utf8'));
    const fake = opts.fakePackageManager ? await installFakePackageManager(dir, workDir, { uid, gid }, opts.fakePackageManager) : null;

    // A free port can be taken between probing and binding by a parallel test: retry a few times.
    let child: ChildProcess | undefined;
    let port = 0;
    let lastError: unknown;
    for (let attempt = 0; attempt < 5 && !child; attempt++) {
      port = await freePort(host);
      const configPath = join(dir, 'sshd_config');
      await writeFile(configPath, sshdConfig(dir, hosts, port, fake));
      try {
        child = await launch(configPath);
      } catch (err) {
        lastError = err;
      }
    }
    if (!child) throw lastError;
    let proc = child;
    running.add(proc);

    // The stand-in's `reboot` leaves a marker; this watcher plays the machine: down, then up again on the same port.
    let reboots = 0;
    let rebooting: Promise<void> | undefined;
    let stopped = false;
    const reboot = async (fakePm: InstalledFakePackageManager) => {
      await rm(join(fakePm.stateDir, REBOOT_REQUESTED), { force: true });
      const behaviour = opts.fakePackageManager?.onReboot ?? 'reboot';
      await killSshdTree(proc);
      running.delete(proc);
      reboots++;
      if (behaviour === 'stay-down' || stopped) return;
      // Down for a while, as a machine is: a client trying meanwhile sees it gone, not only a new connection.
      await delay(REBOOT_DOWNTIME_MS);
      if (stopped) return;
      await fakePm.rebooted(behaviour === 'keep-boot-id');
      if (behaviour === 'new-host-key') {
        await rm(join(dir, 'hostkey'), { force: true });
        await rm(join(dir, 'hostkey.pub'), { force: true });
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mm-test-host', '-f', join(dir, 'hostkey')]);
      }
      proc = await launch(join(dir, 'sshd_config'));
      running.add(proc);
    };
    if (fake) {
      watcher = setInterval(() => {
        if (rebooting || !existsSync(join(fake.stateDir, REBOOT_REQUESTED))) return;
        rebooting = reboot(fake).finally(() => {
          rebooting = undefined;
        });
      }, 100);
      watcher.unref();
    }

    let stopping: Promise<void> | undefined;
    return {
      host,
      port,
      username: TEST_SSH_USER,
      privateKey,
      hostKeyFingerprint,
      dir,
      workDir,
      credentials: { type: 'key', privateKey },
      ...(fake ? { fakePackageManager: fake.handle(() => reboots) } : {}),
      stop() {
        stopping ??= (async () => {
          stopped = true;
          clearInterval(watcher);
          await rebooting?.catch(() => {});
          if (proc.exitCode === null && proc.signalCode === null) {
            const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
            proc.kill('SIGTERM');
            await exited;
          }
          running.delete(proc);
          await rm(dir, { recursive: true, force: true });
          await rm(workDir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    clearInterval(watcher);
    await rm(dir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

export interface InsertTestServerOptions {
  /** The CREDENTIALS_KEY the worker under test decrypts with (64 hex characters). */
  credentialsKey: string;
  name?: string;
  backupPaths?: string[];
  /** Defaults to the sshd's real fingerprint (pinned); pass null for trust on first use, or another value for a mismatch. */
  hostKeyFingerprint?: string | null;
  /** Defaults to the sshd's own key; pass other credentials to test an authentication failure. */
  credentials?: ServerCredentials;
}

/** Inserts a `servers` row pointing at `sshd`, with its credentials encrypted as the API would store them. */
export async function insertTestServer(db: Db, sshd: TestSshd, opts: InsertTestServerOptions): Promise<Server> {
  const credentials = opts.credentials ?? sshd.credentials;
  // The id is chosen here because the ciphertext is bound to it (with host, port and username).
  const id = randomUUID();
  const [row] = await db
    .insert(servers)
    .values({
      id,
      name: opts.name ?? `test-sshd-${sshd.host}-${sshd.port}`,
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      authType: credentials.type,
      credentials: encryptCredentials(credentials, opts.credentialsKey, { serverId: id, host: sshd.host, port: sshd.port, username: sshd.username }),
      hostKeyFingerprint: opts.hostKeyFingerprint === undefined ? sshd.hostKeyFingerprint : opts.hostKeyFingerprint,
      backupPaths: opts.backupPaths ?? [],
    })
    .returning();
  if (!row) throw new Error('insert into servers returned no row');
  return row;
}
