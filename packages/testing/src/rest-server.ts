import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildServer } from './child-server.js';
import { childEnv } from './env.js';
import { ensureDebianPackage } from './debian-package.js';
import { createTestCertificate } from './tls-certificate.js';

const RCLONE = '/usr/bin/rclone';

export interface TestRestServer {
  /** `http(s)://127.0.0.1:<port>/` without credentials: a restic `rest:` repository URL. */
  url: string;
  username: string;
  password: string;
  /** Set when started with `tls: true`. */
  caCertPem?: string;
  /** The folder rclone serves: repositories appear under it, one sub-folder per URL path. */
  dataDir: string;
  /** Stops rclone and removes its data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartTestRestServerOptions {
  /** `--append-only`: restic may add but never delete or overwrite (a ransomware-resistant target). */
  appendOnly?: boolean;
  /** HTTPS with a self-signed certificate (returned as `caCertPem`). */
  tls?: boolean;
}

/**
 * `rclone serve restic` (Debian's rclone) on loopback: restic's REST server protocol, with basic auth from an
 * htpasswd file so the password never sits on rclone's command line.
 */
export async function startTestRestServer(opts: StartTestRestServerOptions = {}): Promise<TestRestServer> {
  await ensureDebianPackage(RCLONE, 'rclone');
  const dir = await mkdtemp(join(tmpdir(), 'mm-rest-'));
  try {
    const username = 'mmrest';
    const password = randomBytes(12).toString('hex');
    // {SHA} is one of the htpasswd schemes rclone accepts; fine for a throwaway test password.
    const sha = createHash('sha1').update(password).digest('base64');
    await writeFile(join(dir, 'htpasswd'), `${username}:{SHA}${sha}\n`, { mode: 0o600 });
    const dataDir = join(dir, 'data');
    const args = ['serve', 'restic', '--addr', '127.0.0.1:0', '--htpasswd', join(dir, 'htpasswd')];
    if (opts.appendOnly) args.push('--append-only');
    let caCertPem: string | undefined;
    if (opts.tls) {
      const cert = await createTestCertificate('127.0.0.1');
      caCertPem = cert.certPem;
      await writeFile(join(dir, 'cert.pem'), cert.certPem);
      await writeFile(join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
      args.push('--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'));
    }
    args.push(dataDir);
    const server = await startChildServer(RCLONE, args, /Serving restic REST API on (https?:\/\/127\.0\.0\.1:\d+\/)/, {
      // No rclone.conf of the host's is read or written.
      env: childEnv({ RCLONE_CONFIG: join(dir, 'rclone.conf') }),
    });
    let stopping: Promise<void> | undefined;
    return {
      url: server.match[1] ?? '',
      username,
      password,
      caCertPem,
      dataDir,
      stop() {
        stopping ??= (async () => {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
