import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endlessOutput, printThenExit, startHostileSshd, startTestSshd, TEST_SSH_USER, type HostileExec, type HostileSshd, type TestSshd } from '@mm/testing';
import { DEFAULT_MAX_LINE_LENGTH, SshOutputLimitError, SshPool, type SshTarget } from '../src/index.js';

// A managed host controls everything its commands print: these are the worst it can send.
let hostile: HostileSshd;
let pool: SshPool;
let target: SshTarget;
let sshd: TestSshd;
const run = promisify(execFile);

/** The kill command the client sends on a second channel just exits; everything else gets `behaviour`. */
const unlessKill =
  (behaviour: HostileExec): HostileExec =>
  (command, channel) => {
    if (command.includes('pgrep')) printThenExit('')(command, channel);
    else behaviour(command, channel);
  };

beforeAll(async () => {
  [hostile, sshd] = await Promise.all([startHostileSshd(), startTestSshd()]);
  pool = new SshPool({ hostPolicy: { allowLoopback: true, deny: [] } });
  target = { host: hostile.host, port: hostile.port, username: 'ops', credentials: { type: 'password', password: 'x' }, hostKeyFingerprint: hostile.hostKeyFingerprint };
});

afterAll(async () => {
  await pool?.close();
  await hostile?.stop();
  await sshd?.stop();
});

describe('a host that prints without end', () => {
  // No time limit on the command: only the byte cap can end it. Before the cap this test ran until vitest's timeout.
  it('endless stdout: the command is killed at the byte cap and fails, not retryable', { timeout: 20_000 }, async () => {
    hostile.setExec(unlessKill(endlessOutput(Buffer.alloc(64 * 1024, 'A'))));
    const session = await pool.session('endless-stdout', target);
    const attempt = session.exec('cat /dev/zero', { timeoutMs: 0, maxOutputBytes: 4 * 1024 * 1024 });
    await expect(attempt).rejects.toBeInstanceOf(SshOutputLimitError);
    await expect(attempt).rejects.toMatchObject({ retryable: false, limitBytes: 4 * 1024 * 1024 });
    await expect(attempt).rejects.toThrow(`output of a command on ${hostile.host}:${hostile.port} passed its limit of 4194304 bytes; the command was killed`);
    // The kill went out on a second channel, tagged with the command's marker.
    expect(hostile.commands.at(-1)).toMatch(/^pids=\$\(pgrep -d, -f '\[m\]m-exec-/);
  });

  it('on a real sshd the remote process is gone once the cap is passed', { timeout: 20_000 }, async () => {
    const marker = `mm-cap-${randomUUID()}`;
    const session = await pool.session('real-sshd', { host: sshd.host, port: sshd.port, username: sshd.username, credentials: sshd.credentials, hostKeyFingerprint: sshd.hostKeyFingerprint });
    await expect(session.exec(`yes ${marker}`, { timeoutMs: 0, maxOutputBytes: 1024 * 1024 })).rejects.toBeInstanceOf(SshOutputLimitError);
    const left = await run('pgrep', ['-u', TEST_SSH_USER, '-f', marker]).then(
      ({ stdout }) => stdout.trim(),
      (err: { code?: unknown }) => {
        if (err.code === 1) return '';
        throw err;
      },
    );
    expect(left).toBe('');
  });

  it('endless stderr of a streamed command counts too (stdout goes to the sink, stderr is buffered)', { timeout: 20_000 }, async () => {
    hostile.setExec(unlessKill(endlessOutput('error: disk on fire\n', 'stderr')));
    const session = await pool.session('endless-stderr', target);
    const { PassThrough } = await import('node:stream');
    const sink = new PassThrough();
    sink.resume();
    const attempt = session.execToStream('tar -cf - /', sink, { timeoutMs: 0, maxOutputBytes: 1024 * 1024 });
    await expect(attempt).rejects.toBeInstanceOf(SshOutputLimitError);
  });

  it('one line without a newline reaches the line callback cut, and the buffer stays bounded', { timeout: 20_000 }, async () => {
    const huge = Buffer.alloc(3 * 1024 * 1024, 'x');
    hostile.setExec(unlessKill(printThenExit(Buffer.concat([huge, Buffer.from('\nsecond line\n'), huge]))));
    const session = await pool.session('long-line', target);
    const lines: string[] = [];
    const result = await session.exec('cat big', { onStdoutLine: (line) => lines.push(line) });
    expect(result.code).toBe(0);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(`${'x'.repeat(DEFAULT_MAX_LINE_LENGTH)} [line cut at ${DEFAULT_MAX_LINE_LENGTH} characters]`);
    expect(lines[1]).toBe('second line');
    expect(lines[2]).toBe(lines[0]);
  });

  it('output within the cap is returned whole', async () => {
    hostile.setExec(unlessKill(printThenExit('ok\n'.repeat(1000))));
    const session = await pool.session('fine', target);
    const result = await session.exec('echo ok', { maxOutputBytes: 3000 });
    expect(result.stdout).toBe('ok\n'.repeat(1000));
  });
});
