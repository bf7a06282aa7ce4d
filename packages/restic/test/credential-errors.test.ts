import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRestServer, startTestS3Server, startTestSshd, type TestRestServer, type TestS3Server, type TestSshd } from '@mm/testing';
import { ResticError, ResticRepository, type ResticLocation } from '../src/index.js';
import { ensureRestic, tempDir } from './restic-kit.js';

// A bad credential on each remote type is 'access-denied': unrecoverable, one message naming the target, no secret.
// (s3rver checks the access key id but not the signature, so a wrong secret for the right key cannot be tested here;
// real S3 answers SignatureDoesNotMatch, which the same rule covers.)
const PASSWORD = 'credential test password';
let s3: TestS3Server;
let rest: TestRestServer;
let sshd: TestSshd;
let otherKey: string;
let keyDir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  await ensureRestic();
  [s3, rest, sshd] = await Promise.all([startTestS3Server(), startTestRestServer(), startTestSshd()]);
  keyDir = await tempDir('mm-restic-key-');
  const { execFileSync } = await import('node:child_process');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${keyDir.path}/key`]);
  otherKey = await readFile(`${keyDir.path}/key`, 'utf8');
});
afterAll(async () => {
  await Promise.all([s3?.stop(), rest?.stop(), sshd?.stop(), keyDir?.remove()]);
});

async function openWith(name: string, location: ResticLocation): Promise<ResticError> {
  const repo = new ResticRepository({ name, location, password: PASSWORD }, { lockWaitMs: 2_000 });
  try {
    const err = await repo.initOrOpen().then(() => undefined, (e: unknown) => e);
    if (!(err instanceof ResticError)) throw new Error(`expected a ResticError, got ${String(err)}`);
    return err;
  } finally {
    await repo.close();
  }
}

describe('a wrong credential is access denied, naming the target', () => {
  it.each([
    ['an S3 access key s3rver does not know', () => ({ type: 's3' as const, endpoint: s3.endpoint, bucket: s3.bucket, prefix: 'bad-key', accessKeyId: 'NOT-A-KEY', secretAccessKey: 'not-the-secret-1', caCertPem: s3.caCertPem }), 'not-the-secret-1'],
    ['a wrong REST password', () => ({ type: 'rest' as const, url: `${rest.url}bad-auth/`, username: rest.username, password: 'not-the-secret-3' }), 'not-the-secret-3'],
    ['an SFTP key the server does not accept', () => ({ type: 'sftp' as const, host: sshd.host, port: sshd.port, username: sshd.username, privateKey: otherKey, path: `${sshd.workDir}/bad-key-repo`, hostKeyFingerprint: sshd.hostKeyFingerprint }), 'PRIVATE KEY'],
  ])('%s', async (_what, location, secret) => {
    const err = await openWith('creds', location());
    expect({ kind: err.kind, message: err.message }).toEqual({ kind: 'access-denied', message: expect.stringContaining("access denied by storage target 'creds'") as unknown as string });
    expect(err.retryable).toBe(false);
    expect(`${err.message}\n${err.detail ?? ''}`).not.toContain(secret);
  });
});
