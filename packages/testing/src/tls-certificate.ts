import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureDebianPackage } from './debian-package.js';

const run = promisify(execFile);

/** A self-signed certificate for one loopback address, so test servers speak HTTPS and clients pin it as their CA. */
export interface TestCertificate {
  /** PEM certificate: give it to clients as their only CA (restic's `--cacert`, a target's `caCertPem`). */
  certPem: string;
  /** PEM private key, for the server only. */
  keyPem: string;
}

/**
 * `openssl req -x509` for `ip` with a subjectAltName: Go's TLS (restic, rclone) ignores the common name and
 * checks only SANs. One day of validity: the certificate lives as long as the test.
 */
export async function createTestCertificate(ip = '127.0.0.1'): Promise<TestCertificate> {
  await ensureDebianPackage('/usr/bin/openssl', 'openssl');
  const dir = await mkdtemp(join(tmpdir(), 'mm-cert-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '1',
      '-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`,
    ]);
    return { certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
