import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resticBaseEnv } from './env.js';
import { ResticError } from './errors.js';
import { repositoryStringWithCredentials, type ResticTarget } from './location.js';

const run = promisify(execFile);

/** What every restic call of one target gets: secrets only in `env` or in 0600 files under a 0700 folder. */
export interface Invocation {
  env: NodeJS.ProcessEnv;
  /** Global flags (never a secret: file paths and options only; /proc/<pid>/cmdline is world-readable). */
  args: string[];
  /**
   * SFTP targets: what ssh itself says when it connects with this invocation's key and pin (its stderr, bounded), or
   * undefined for other targets. Restic forwards ssh's stderr only as it races its own exit, so "unable to start the
   * sftp session: EOF" may come without ssh's "Permission denied"; this asks ssh directly.
   */
  probeTransport?(): Promise<string>;
  dispose(): Promise<void>;
}

export interface InvocationOptions {
  cacheDir?: string;
  /** Variables passed through to restic besides its own (PATH, HOME, TMPDIR are taken from this process). */
  baseEnv?: NodeJS.ProcessEnv;
}

export async function prepareInvocation(target: ResticTarget, options: InvocationOptions = {}): Promise<Invocation> {
  const base = resticBaseEnv(options.baseEnv);
  const dir = await mkdtemp(join(base.TMPDIR ?? tmpdir(), 'mm-restic-'));
  await chmod(dir, 0o700);
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const env: NodeJS.ProcessEnv = { ...base };
    env.RESTIC_REPOSITORY = repositoryStringWithCredentials(target.location);
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, target.password, { mode: 0o600 });
    env.RESTIC_PASSWORD_FILE = passwordFile;
    const args: string[] = [];
    if (options.cacheDir) args.push('--cache-dir', options.cacheDir);
    else args.push('--no-cache');

    const { location } = target;
    if ((location.type === 's3' || location.type === 'rest') && location.caCertPem) {
      const caFile = join(dir, 'ca.pem');
      await writeFile(caFile, location.caCertPem, { mode: 0o600 });
      args.push('--cacert', caFile);
    }
    if (location.type === 's3') {
      env.AWS_ACCESS_KEY_ID = location.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = location.secretAccessKey;
      if (location.region) env.AWS_DEFAULT_REGION = location.region;
    }
    if (location.type === 'sftp') {
      const keyFile = join(dir, 'id');
      const knownHosts = join(dir, 'known_hosts');
      await writeFile(keyFile, location.privateKey.endsWith('\n') ? location.privateKey : `${location.privateKey}\n`, { mode: 0o600 });
      await writeFile(knownHosts, await pinnedKnownHostsLine(target), { mode: 0o600 });
      const ssh = [
        'ssh', '-F', '/dev/null', '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
        '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
        '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-p', String(location.port),
        `${location.username}@${location.host}`,
      ];
      args.push('-o', `sftp.command=${[...ssh, '-s', 'sftp'].join(' ')}`);
      const probeTransport = async (): Promise<string> => {
        // The SFTP subsystem, opened and closed at once (stdin is empty): a refused key or host fails before it starts.
        const [command, ...rest] = ssh;
        const probe = await run(command as string, [...rest, '-s', 'sftp'], { timeout: 20_000, maxBuffer: 64 * 1024 }).then(
          (r) => r.stderr,
          (err: { stderr?: string; message: string }) => err.stderr || err.message,
        );
        return probe.slice(-4_000);
      };
      return { env, args, dispose, probeTransport };
    }
    return { env, args, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** `SHA256:` + unpadded base64 of the key blob's sha256, as OpenSSH prints it. */
export function fingerprintOfKeyBlob(base64Blob: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * OpenSSH's known_hosts wants the key itself, the target stores its fingerprint: fetch the host's keys with
 * ssh-keyscan and keep only the one whose fingerprint is pinned. ssh then refuses any other key.
 */
async function pinnedKnownHostsLine(target: ResticTarget): Promise<string> {
  if (target.location.type !== 'sftp') throw new Error('not an sftp target');
  const { host, port, hostKeyFingerprint } = target.location;
  let stdout: string;
  try {
    ({ stdout } = await run('ssh-keyscan', ['-T', '10', '-p', String(port), host], { maxBuffer: 1024 * 1024 }));
  } catch (err) {
    const e = err as { stdout?: string; code?: unknown };
    if (e.code === 'ENOENT') throw new ResticError('missing-binary', 'ssh-keyscan is not installed (apt-get install openssh-client)');
    stdout = e.stdout ?? '';
  }
  const lines = stdout.split('\n').filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new ResticError('unreachable', `storage target '${target.name}' is unreachable: no SSH host key from ${host}:${port}`);
  const match = lines.find((l) => {
    const blob = l.trim().split(/\s+/)[2];
    return blob !== undefined && fingerprintOfKeyBlob(blob) === hostKeyFingerprint;
  });
  if (!match) throw new ResticError('host-key-mismatch', `the SSH host key of storage target '${target.name}' does not match its pinned fingerprint`);
  return `${match}\n`;
}
