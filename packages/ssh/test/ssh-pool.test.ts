import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestSshd, TEST_SSH_USER, type TestSshd } from '@mm/testing';
import {
  HostKeyMismatchError,
  SshAbortedError,
  SshAuthError,
  SshConnectionError,
  SshPool,
  SshTimeoutError,
  assertRemotePath,
  shellQuote,
  type SshTarget,
} from '../src/index.js';

const run = promisify(execFile);
// The test sshd listens on loopback, which the pool refuses by default.
const lab = { hostPolicy: { allowLoopback: true, deny: [] } };

let sshd: TestSshd;
let pool: SshPool;
let target: SshTarget;

/**
 * Remote processes of the test user whose command line contains `pattern`. pgrep exits 1 when none matched; any other
 * failure (not installed, a bad option) is an error here, never "no process left".
 */
async function remoteProcesses(pattern: string): Promise<string[]> {
  try {
    const { stdout } = await run('pgrep', ['-u', TEST_SSH_USER, '-f', pattern]);
    return stdout.trim().split('\n').filter(Boolean);
  } catch (err) {
    if ((err as { code?: unknown }).code === 1) return [];
    throw err;
  }
}

/** Waits until `pattern` runs remotely: proves the process check can see the process it later finds gone. */
async function seenRunning(pattern: string): Promise<void> {
  await vi.waitFor(async () => expect(await remoteProcesses(pattern)).not.toEqual([]), { timeout: 5_000, interval: 50 });
}

beforeAll(async () => {
  sshd = await startTestSshd();
  target = { host: sshd.host, port: sshd.port, username: sshd.username, credentials: sshd.credentials, hostKeyFingerprint: sshd.hostKeyFingerprint };
  pool = new SshPool(lab);
});

afterAll(async () => {
  await pool?.close();
  await sshd?.stop();
});

describe('exec', () => {
  it('returns stdout, stderr and the exit code without throwing on a non-zero exit', async () => {
    const session = await pool.session('server-a', target);
    const ok = await session.exec('echo out; echo err >&2; whoami');
    expect(ok).toEqual({ stdout: `out\n${TEST_SSH_USER}\n`, stderr: 'err\n', code: 0, signal: null });
    const failed = await session.exec('echo partial; exit 7');
    expect(failed).toEqual({ stdout: 'partial\n', stderr: '', code: 7, signal: null });
    expect(await session.exec('kill -TERM $$')).toEqual({ stdout: '', stderr: '', code: null, signal: 'SIGTERM' });
    // Fast commands, many at once: the exit status must never go missing.
    const quick = await Promise.all(Array.from({ length: 40 }, () => session.exec('exit 3')));
    expect(quick.map((r) => r.code)).toEqual(Array.from({ length: 40 }, () => 3));
  });

  it('feeds stdin and reports output line by line', async () => {
    const session = await pool.session('server-a', target);
    const lines: string[] = [];
    const errLines: string[] = [];
    const result = await session.exec('tr a-z A-Z; printf "e1\\ne2" >&2', {
      stdin: 'first line\nsecond',
      onStdoutLine: (l) => lines.push(l),
      onStderrLine: (l) => errLines.push(l),
    });
    expect(result.stdout).toBe('FIRST LINE\nSECOND');
    expect(lines).toEqual(['FIRST LINE', 'SECOND']);
    expect(errLines).toEqual(['e1', 'e2']);
  });

  it('pipes a stream into stdin, and a throwing line callback fails only that command', async () => {
    const session = await pool.session('server-a', target);
    const piped = await session.exec('wc -l', { stdin: Readable.from(Array.from({ length: 1000 }, (_, i) => `line ${i}\n`)) });
    expect(piped.stdout.trim()).toBe('1000');
    const failing = session.exec('echo one; echo two', {
      onStdoutLine: (line) => {
        if (line === 'two') throw new Error('callback rejected line two');
      },
    });
    await expect(failing).rejects.toThrow('callback rejected line two');
    expect((await session.exec('echo still fine')).stdout).toBe('still fine\n');
  });

  it('runs 30 concurrent commands on one connection without a channel open failure', async () => {
    const session = await pool.session('server-a', target);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => session.exec(`sleep 0.2; echo ${i}`)));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(results.every((r) => r.code === 0)).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('never has more channels open than the cap', async () => {
    const capped = new SshPool({ ...lab, maxChannelsPerConnection: 3 });
    try {
      const session = await capped.session('server-cap', target);
      const dir = join(sshd.workDir, 'cap');
      await session.exec(`mkdir -p ${shellQuote(dir)}`);
      // Each command marks itself running, counts the marks while it sleeps, and unmarks itself.
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => session.exec(`cd ${shellQuote(dir)} && touch r${i} && sleep 0.3 && ls | wc -l && rm r${i}`)),
      );
      const counts = results.map((r) => Number(r.stdout.trim()));
      expect(counts.every((n) => n >= 1 && n <= 3)).toBe(true);
    } finally {
      await capped.close();
    }
  });

  it('streams a few MB with backpressure into the sink, byte for byte', async () => {
    const file = join(sshd.workDir, 'stream.bin');
    const data = randomBytes(3 * 1024 * 1024 + 123);
    await writeFile(file, data);
    await chmod(file, 0o644);
    const hash = createHash('sha256');
    let writes = 0;
    // A deliberately slow sink with a small buffer, so the channel has to wait for it.
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        writes++;
        setImmediate(done);
      },
    });
    const session = await pool.session('server-a', target);
    const result = await session.execToStream(`cat ${shellQuote(file)}`, sink);
    expect(result).toEqual({ code: 0, signal: null, stderr: '', bytes: data.length });
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(writes).toBeGreaterThan(1);
    expect(sink.writableFinished).toBe(true);
  });
});

describe('killing remote commands', () => {
  it('a timeout kills the remote process group, not only the local promise', async () => {
    const seconds = randomInt(100_000, 999_999);
    const session = await pool.session('server-a', target);
    const pending = session.exec(`sleep ${seconds} | cat; echo never`, { timeoutMs: 1_500 });
    const timedOut = expect(pending).rejects.toBeInstanceOf(SshTimeoutError);
    await seenRunning(`sleep ${seconds}`);
    await timedOut;
    await expect(pending).rejects.toMatchObject({ retryable: true });
    expect(await remoteProcesses(`sleep ${seconds}`)).toEqual([]);
  });

  it('an abort kills the remote process and rejects with SshAbortedError', async () => {
    const seconds = randomInt(100_000, 999_999);
    const controller = new AbortController();
    const session = await pool.session('server-a', target);
    const pending = session.exec(`echo started; sleep ${seconds}`, {
      signal: controller.signal,
      timeoutMs: 0,
      onStdoutLine: (line) => {
        if (line === 'started') void seenRunning(`sleep ${seconds}`).then(() => controller.abort());
      },
    });
    await expect(pending).rejects.toBeInstanceOf(SshAbortedError);
    expect(controller.signal.aborted).toBe(true);
    expect(await remoteProcesses(`sleep ${seconds}`)).toEqual([]);
  });

  it('a dropped connection fails the command as retryable and the next command reconnects', async () => {
    const pool2 = new SshPool(lab);
    try {
      const session = await pool2.session('server-drop', target);
      // Kill this connection's own sshd session process (the parent of `timeout`, the parent of sh).
      const pending = session.exec('kill -9 $(ps -o ppid= -p $PPID)');
      await expect(pending).rejects.toBeInstanceOf(SshConnectionError);
      await vi.waitFor(() => expect(pool2.size).toBe(0));
      expect((await session.exec('echo back')).stdout).toBe('back\n');
      expect(pool2.size).toBe(1);
    } finally {
      await pool2.close();
    }
  });
});

describe('host keys and authentication', () => {
  it('trust on first use reports the fingerprint ssh-keygen prints', async () => {
    const tofu = new SshPool(lab);
    try {
      const session = await tofu.session('server-tofu', { ...target, hostKeyFingerprint: null });
      const { stdout } = await run('ssh-keygen', ['-lf', join(sshd.dir, 'hostkey.pub')]);
      expect(session.hostKeyFingerprint).toBe(stdout.split(' ')[1]);
    } finally {
      await tofu.close();
    }
  });

  it('a pinned fingerprint that does not match fails, naming both, not retryable', async () => {
    const wrong = `SHA256:${createHash('sha256').update('another host').digest('base64').replace(/=+$/, '')}`;
    const strict = new SshPool(lab);
    try {
      const attempt = strict.session('server-mitm', { ...target, hostKeyFingerprint: wrong });
      await expect(attempt).rejects.toBeInstanceOf(HostKeyMismatchError);
      await expect(attempt).rejects.toMatchObject({ retryable: false, expected: wrong, actual: sshd.hostKeyFingerprint });
      await expect(attempt).rejects.toThrow(wrong);
      await expect(attempt).rejects.toThrow(sshd.hostKeyFingerprint);
      expect(strict.size).toBe(0);
      // A connection already open under the right pin is not reused for a different pin either.
      await pool.session('server-a', target);
      await expect(pool.session('server-a', { ...target, hostKeyFingerprint: wrong })).rejects.toBeInstanceOf(HostKeyMismatchError);
    } finally {
      await strict.close();
    }
  });

  it('a wrong key is an authentication error, not retryable, and its message holds no key material', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mm-ssh-test-'));
    try {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
      const otherKey = await readFile(join(dir, 'other'), 'utf8');
      const attempt = new SshPool(lab).session('server-wrong-key', { ...target, credentials: { type: 'key', privateKey: otherKey } });
      await expect(attempt).rejects.toBeInstanceOf(SshAuthError);
      await expect(attempt).rejects.toMatchObject({ retryable: false });
      const message = await attempt.catch((err: Error) => err.message);
      expect(message).toContain(`${TEST_SSH_USER}@${sshd.host}:${sshd.port}`);
      expect(message).not.toContain('PRIVATE KEY');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('connection refused is a retryable connection error', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const attempt = new SshPool(lab).session('server-down', { ...target, port });
    await expect(attempt).rejects.toBeInstanceOf(SshConnectionError);
    await expect(attempt).rejects.toMatchObject({ retryable: true });
    await expect(attempt).rejects.toThrow('ECONNREFUSED');
  });
});

describe('untrusted input never reaches the shell unquoted', () => {
  const canary = () => join(sshd.workDir, 'canary');
  const evil = () => [
    `; touch ${canary()}`,
    `$(touch ${canary()})`,
    `\`touch ${canary()}\``,
    `x\ntouch ${canary()}`,
    `'; touch ${canary()}; echo '`,
    `" && touch ${canary()} && echo "`,
    '--help',
    '-rf /',
    `; rm -rf /`,
  ];

  it('shellQuote keeps every injection string one inert argument', async () => {
    const session = await pool.session('server-a', target);
    for (const value of evil()) {
      const result = await session.exec(`printf '%s' ${shellQuote(value)}`);
      expect(result).toEqual({ stdout: value, stderr: '', code: 0, signal: null });
    }
    expect(existsSync(canary())).toBe(false);
  });

  it('assertRemotePath refuses what it must', () => {
    expect(assertRemotePath('/home/user/my files/$(x)')).toBe('/home/user/my files/$(x)');
    expect(() => assertRemotePath('relative/path')).toThrow(/absolute/);
    expect(() => assertRemotePath('--help')).toThrow(/absolute/);
    expect(() => assertRemotePath('/etc\ntouch /tmp/x')).toThrow(/newline/);
    expect(() => assertRemotePath('/etc\0')).toThrow(/NUL/);
  });
});

describe('pool lifecycle', () => {
  it('closes idle connections and close() is idempotent', async () => {
    const short = new SshPool({ ...lab, idleTimeoutMs: 200 });
    const session = await short.session('server-idle', target);
    expect((await session.exec('echo 1')).stdout).toBe('1\n');
    expect(short.size).toBe(1);
    await vi.waitFor(() => expect(short.size).toBe(0), { timeout: 10_000 });
    await short.close();
    await short.close();
    await expect(short.session('server-idle', target)).rejects.toThrow(/closed/);
  });
});
