import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianPackage, startTestRestServer, startTestS3Server, type TestRestServer, type TestS3Server } from '../src/index.js';


let dir: string;
beforeAll(async () => {
  await ensureDebianPackage('/usr/bin/restic', 'restic');
  dir = await mkdtemp(join(tmpdir(), 'mm-storage-servers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Restic {
  (args: string[], input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
}

/** restic with the repository and secrets in its environment only. */
function restic(env: Record<string, string>, extraArgs: string[] = []): Restic {
  return (args, input) =>
    new Promise((resolve, reject) => {
      const child = spawn('restic', [...extraArgs, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, RESTIC_CACHE_DIR: join(dir, 'cache'), ...env } });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
      child.stdin.end(input);
    });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('s3rver over HTTPS', () => {
  let s3: TestS3Server;
  let r: Restic;
  beforeAll(async () => {
    s3 = await startTestS3Server({ bucket: 'fixture-bucket' });
    const caPath = join(dir, 's3-ca.pem');
    await writeFile(caPath, s3.caCertPem);
    r = restic(
      {
        RESTIC_REPOSITORY: `s3:${s3.endpoint}/${s3.bucket}/repo`,
        RESTIC_PASSWORD: 'fixture-password',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
      ['--cacert', caPath],
    );
  });
  afterAll(async () => {
    await s3?.stop();
    await s3?.stop();
  });

  it('serves HTTPS on loopback with its own certificate', async () => {
    expect(s3.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.caCertPem).toContain('BEGIN CERTIFICATE');
    // Without the CA, Go's TLS refuses the self-signed certificate.
    const untrusted = await restic({ RESTIC_REPOSITORY: `s3:${s3.endpoint}/${s3.bucket}/other`, RESTIC_PASSWORD: 'x', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' })(['init']);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/x509|certificate/i);
  });

  it('stores a restic repository that reads back byte for byte', async () => {
    expect((await r(['init'])).code).toBe(0);
    const data = randomBytes(3 * 1024 * 1024);
    const backup = await r(['backup', '--stdin', '--stdin-filename', 'blob.bin', '--json'], data);
    expect(backup.code, backup.stderr).toBe(0);
    const dump = await r(['dump', 'latest', '/blob.bin']);
    expect(dump.code, dump.stderr).toBe(0);
    expect(sha(dump.stdout)).toBe(sha(data));
    const check = await r(['check', '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    expect(await readdir(join(s3.dataDir, s3.bucket))).toContain('repo');
  });

  it('refuses keys other than its own', async () => {
    const caPath = join(dir, 's3-ca.pem');
    const wrong = await restic(
      { RESTIC_REPOSITORY: `s3:${s3.endpoint}/${s3.bucket}/repo`, RESTIC_PASSWORD: 'fixture-password', AWS_ACCESS_KEY_ID: 'NOPE', AWS_SECRET_ACCESS_KEY: 'NOPE' },
      ['--cacert', caPath],
    )(['snapshots']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Access Key Id you provided does not exist|InvalidAccessKeyId/i);
  });
});

describe('rclone serve restic', () => {
  let rest: TestRestServer;
  let appendOnly: TestRestServer;
  beforeAll(async () => {
    [rest, appendOnly] = await Promise.all([startTestRestServer({ tls: true }), startTestRestServer({ appendOnly: true })]);
  });
  afterAll(async () => {
    await rest?.stop();
    await appendOnly?.stop();
    await rest?.stop();
  });

  const withAuth = (server: TestRestServer, path: string, password = server.password) => {
    const url = new URL(path, server.url);
    url.username = server.username;
    url.password = password;
    return `rest:${url.toString()}`;
  };

  it('needs the htpasswd credentials', async () => {
    const anonymous = await restic({ RESTIC_REPOSITORY: `rest:${appendOnly.url}anon`, RESTIC_PASSWORD: 'p' })(['init']);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/401|Unauthorized/i);
    const wrong = await restic({ RESTIC_REPOSITORY: withAuth(appendOnly, 'anon', 'wrong'), RESTIC_PASSWORD: 'p' })(['init']);
    expect(wrong.code).not.toBe(0);
  });

  it('serves HTTPS with its certificate and keeps a working repository', async () => {
    expect(rest.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const caPath = join(dir, 'rest-ca.pem');
    await writeFile(caPath, rest.caCertPem ?? '');
    const r = restic({ RESTIC_REPOSITORY: withAuth(rest, 'repo'), RESTIC_PASSWORD: 'fixture-password' }, ['--cacert', caPath]);
    expect((await r(['init'])).code).toBe(0);
    const data = randomBytes(512 * 1024);
    expect((await r(['backup', '--stdin', '--stdin-filename', 'x.bin'], data)).code).toBe(0);
    const dump = await r(['dump', 'latest', '/x.bin']);
    expect(sha(dump.stdout)).toBe(sha(data));
    // Deleting works on a normal server...
    const forget = await r(['forget', '--keep-last', '0', '--prune']);
    expect(forget.stderr).not.toMatch(/403|Forbidden/);
  });

  it('--append-only accepts backups and refuses deletions', async () => {
    const r = restic({ RESTIC_REPOSITORY: withAuth(appendOnly, 'repo'), RESTIC_PASSWORD: 'fixture-password' });
    expect((await r(['init'])).code).toBe(0);
    const backup = await r(['backup', '--stdin', '--stdin-filename', 'y.bin'], randomBytes(64 * 1024));
    expect(backup.code, backup.stderr).toBe(0);
    const { stdout } = await r(['snapshots', '--json']);
    const [snapshot] = JSON.parse(stdout.toString()) as { id: string }[];
    expect(snapshot?.id).toMatch(/^[0-9a-f]{64}$/);
    // restic retries a refused delete for most of a minute, so ask the REST protocol directly.
    const auth = `Basic ${Buffer.from(`${appendOnly.username}:${appendOnly.password}`).toString('base64')}`;
    const del = await fetch(new URL(`repo/snapshots/${snapshot?.id ?? ''}`, appendOnly.url), { method: 'DELETE', headers: { authorization: auth } });
    expect(del.status).toBe(403);
    const get = await fetch(new URL(`repo/snapshots/${snapshot?.id ?? ''}`, appendOnly.url), { headers: { authorization: auth } });
    expect(get.status).toBe(200);
    expect(JSON.parse((await r(['snapshots', '--json'])).stdout.toString())).toHaveLength(1);
  });
});

