import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startChildServer } from './child-server.js';
import { createTestCertificate } from './tls-certificate.js';

const require = createRequire(import.meta.url);

/** s3rver accepts exactly this key pair (its built-in account); anything else is refused with InvalidAccessKeyId. */
export const TEST_S3_ACCESS_KEY_ID = 'S3RVER';
export const TEST_S3_SECRET_ACCESS_KEY = 'S3RVER';

export interface TestS3Server {
  /** `https://127.0.0.1:<port>`. */
  endpoint: string;
  /** A bucket created at start. */
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The server's self-signed certificate: the only CA a client should trust for it. */
  caCertPem: string;
  /** Where s3rver keeps objects (`<dir>/<bucket>/<key>._S3rver_object`): for tests that damage the stored data. */
  dataDir: string;
  /** Stops the server and removes its data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartTestS3ServerOptions {
  bucket?: string;
}

/**
 * s3rver (npm) over HTTPS on loopback with a self-signed certificate. HTTPS is not optional: over plain HTTP
 * restic sends aws-chunked signed uploads, which s3rver stores with the chunk framing undecoded, so the
 * repository is silently corrupt (issue #14). It runs as a child process so its logger and exception
 * handlers stay out of the test process.
 */
export async function startTestS3Server(opts: StartTestS3ServerOptions = {}): Promise<TestS3Server> {
  const bucket = opts.bucket ?? 'mm-backups';
  const dir = await mkdtemp(join(tmpdir(), 'mm-s3-'));
  try {
    const { certPem, keyPem } = await createTestCertificate('127.0.0.1');
    await writeFile(join(dir, 'cert.pem'), certPem);
    await writeFile(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
    const dataDir = join(dir, 'data');
    const bin = join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
    const server = await startChildServer(
      process.execPath,
      [bin, '-d', dataDir, '-a', '127.0.0.1', '-p', '0', '--key', join(dir, 'key.pem'), '--cert', join(dir, 'cert.pem'), '--no-vhost-buckets', '--silent', '--configure-bucket', bucket],
      /S3rver listening on 127\.0\.0\.1:(\d+)/,
    );
    let stopping: Promise<void> | undefined;
    return {
      endpoint: `https://127.0.0.1:${server.match[1]}`,
      bucket,
      accessKeyId: TEST_S3_ACCESS_KEY_ID,
      secretAccessKey: TEST_S3_SECRET_ACCESS_KEY,
      caCertPem: certPem,
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
