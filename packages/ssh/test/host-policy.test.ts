import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSshd, type TestSshd } from '@mm/testing';
import {
  HostNotAllowedError,
  SshConnectionError,
  SshPool,
  checkHost,
  classifyAddress,
  deploymentHostPolicy,
  type HostPolicy,
  type SshTarget,
} from '../src/index.js';

const strict: HostPolicy = { allowLoopback: false, deny: [] };
const lab: HostPolicy = { allowLoopback: true, deny: [] };

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.9.8.7', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'cloud-metadata'],
    ['::ffff:169.254.169.254', 'cloud-metadata'],
    ['64:ff9b::a9fe:a9fe', 'cloud-metadata'],
    ['fd00:ec2::254', 'cloud-metadata'],
    ['fd20:ce::254', 'cloud-metadata'],
    ['100.100.100.200', 'cloud-metadata'],
    ['168.63.129.16', 'cloud-metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['2002:7f00:1::', 'loopback'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['172.32.0.1', 'public'],
    ['8.8.8.8', 'public'],
    ['2001:db8::1', 'public'],
    ['fec0::1', 'public'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('names are not addresses', () => {
    expect(classifyAddress('localhost')).toBeNull();
    expect(classifyAddress('127.1')).toBeNull();
  });
});

describe('checkHost', () => {
  const fixedLookup = (answers: Record<string, string[]>) => async (host: string) => {
    const found = answers[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found;
  };

  it('refuses a name whose answers include a refused address, whichever comes first', async () => {
    const lookup = fixedLookup({ 'mixed.example': ['10.0.0.5', '127.0.0.1'] });
    await expect(checkHost('mixed.example', 22, strict, lookup)).resolves.toMatchObject({ allowed: false, address: '127.0.0.1' });
    await expect(checkHost('mixed.example', 22, lab, lookup)).resolves.toEqual({ allowed: true, address: '10.0.0.5' });
  });

  it('resolves names through the system resolver: localhost is loopback', async () => {
    const verdict = await checkHost('localhost', 22, strict);
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.reason).toMatch(/loopback/);
  });

  it("denies this deployment's own Redis and PostgreSQL even when loopback is allowed, by address and port", async () => {
    const policy = deploymentHostPolicy({ allowLoopback: true, redisUrl: 'redis://localhost:6379', databaseUrl: 'postgres://postgres@127.0.0.1/mm' });
    await expect(checkHost('127.0.0.1', 6379, policy)).resolves.toMatchObject({ allowed: false, reason: "it is this deployment's Redis" });
    await expect(checkHost('::ffff:127.0.0.1', 5432, policy)).resolves.toMatchObject({ allowed: false, reason: "it is this deployment's PostgreSQL" });
    await expect(checkHost('127.0.0.1', 22, policy)).resolves.toMatchObject({ allowed: true });
    const remote = deploymentHostPolicy({ allowLoopback: false, redisUrl: 'redis://10.0.0.9', databaseUrl: 'postgresql://u:p@[fd00::7]:6000/mm' });
    await expect(checkHost('10.0.0.9', 6379, remote)).resolves.toMatchObject({ allowed: false });
    await expect(checkHost('fd00:0::7', 6000, remote)).resolves.toMatchObject({ allowed: false });
    await expect(checkHost('10.0.0.9', 22, remote)).resolves.toMatchObject({ allowed: true });
    // REDIS_CLUSTER: every seed node of a comma-separated REDIS_URL is denied.
    const cluster = deploymentHostPolicy({ allowLoopback: false, redisUrl: 'redis://10.0.0.11:7001, redis://10.0.0.12:7002', databaseUrl: 'postgres://u@10.0.0.5/mm' });
    await expect(checkHost('10.0.0.11', 7001, cluster)).resolves.toMatchObject({ allowed: false, reason: "it is this deployment's Redis" });
    await expect(checkHost('10.0.0.12', 7002, cluster)).resolves.toMatchObject({ allowed: false, reason: "it is this deployment's Redis" });
    await expect(checkHost('10.0.0.12', 22, cluster)).resolves.toMatchObject({ allowed: true });
  });
});

/** A TCP listener that records every connection and byte: a service that must never hear from a worker. */
async function recordingListener(host: string): Promise<{ port: number; connections: () => number; received: () => Buffer; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const chunks: Buffer[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => sockets.length,
    received: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('the pool connects only to allowed addresses', () => {
  let sshd: TestSshd;
  let target: SshTarget;

  beforeAll(async () => {
    sshd = await startTestSshd();
    target = { host: sshd.host, port: sshd.port, username: sshd.username, credentials: { type: 'password', password: 'hunter2-never-sent' }, hostKeyFingerprint: null };
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('by default a loopback target is refused before any byte is sent: not retryable, naming the rule', async () => {
    const listener = await recordingListener('127.0.0.1');
    const pool = new SshPool();
    try {
      const attempt = pool.session('server-loop', { ...target, port: listener.port });
      await expect(attempt).rejects.toBeInstanceOf(HostNotAllowedError);
      await expect(attempt).rejects.toMatchObject({ retryable: false });
      await expect(attempt).rejects.toThrow(/loopback address \(SERVER_ALLOW_LOOPBACK=true/);
      await expect(pool.session('server-meta', { ...target, host: '169.254.169.254' })).rejects.toThrow(/cloud-metadata/);
      await expect(pool.session('server-zero', { ...target, host: '0.0.0.0', port: listener.port })).rejects.toThrow(/unspecified/);
      expect(listener.connections()).toBe(0);
      expect(pool.size).toBe(0);
    } finally {
      await pool.close();
      await listener.close();
    }
  });

  it('a denied endpoint (Redis) is refused with loopback allowed; another port of the same address is reached', async () => {
    const listener = await recordingListener('127.0.0.1');
    const pool = new SshPool({ hostPolicy: deploymentHostPolicy({ allowLoopback: true, redisUrl: `redis://127.0.0.1:${listener.port}`, databaseUrl: 'postgres://postgres@127.0.0.1:5432/x' }) });
    try {
      await expect(pool.session('server-redis', { ...target, port: listener.port })).rejects.toThrow(/this deployment's Redis/);
      expect(listener.connections()).toBe(0);
      const session = await pool.session('server-ok', { ...target, credentials: sshd.credentials });
      expect((await session.exec('echo reached')).stdout).toBe('reached\n');
    } finally {
      await pool.close();
      await listener.close();
    }
  });

  it('connects to the address it checked, and a DNS answer that changes to loopback is refused at the next connect', async () => {
    let answer = '127.0.0.1';
    let lookups = 0;
    const lookup = async (host: string) => {
      lookups++;
      if (host !== 'fleet-host.invalid') throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return [answer];
    };
    // Loopback allowed first: the name exists only in this lookup, so reaching sshd proves the checked address was used.
    const policy = { allowLoopback: true, deny: [] as { host: string; port?: number; label: string }[] };
    const pool = new SshPool({ hostPolicy: policy, lookup, idleTimeoutMs: 100 });
    try {
      const named = { ...target, host: 'fleet-host.invalid', credentials: sshd.credentials };
      const session = await pool.session('server-dns', named);
      expect((await session.exec('echo via-name')).stdout).toBe('via-name\n');
      expect(lookups).toBeGreaterThan(0);
      // The same name now answers with an address the policy refuses: the reconnect after the idle close checks again.
      policy.allowLoopback = false;
      answer = '127.0.0.2';
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(pool.size).toBe(0);
      await expect(session.exec('echo again')).rejects.toThrow(/fleet-host\.invalid \(127\.0\.0\.2\) is not allowed: loopback/);
    } finally {
      await pool.close();
    }
  });

  it('a name that does not resolve is a retryable connection error', async () => {
    const pool = new SshPool({ hostPolicy: lab, lookup: async () => Promise.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })) });
    try {
      const attempt = pool.session('server-nodns', { ...target, host: 'down.invalid' });
      await expect(attempt).rejects.toBeInstanceOf(SshConnectionError);
      await expect(attempt).rejects.toThrow('cannot resolve down.invalid (EAI_AGAIN)');
    } finally {
      await pool.close();
    }
  });
});
