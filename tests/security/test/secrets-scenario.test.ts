import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptCredentials } from '@mm/db';
import { createTestDatabase, createTestRedis, startTestSshd, TEST_SSH_USER, type TestDatabase, type TestRedis, type TestSshd } from '@mm/testing';

// The whole product as an operator runs it (API and three workers as processes, LOG_LEVEL=trace), through a scenario
// that handles every kind of secret; then every byte it left behind is searched for those secrets.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Service {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startService(name: string, dir: string, entry: string, env: Record<string, string>): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: join(ROOT, dir), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { name, child, output: () => output, exited };
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, limitMs = 90_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The forms a secret could leak in: as is, JSON-escaped, URL-encoded, and base64/base64url at each of the three alignments. */
function leakForms(secret: string): string[] {
  const forms = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  for (const data of [Buffer.from(secret, 'utf8'), ...(/^[0-9a-f]{64}$/i.test(secret) ? [Buffer.from(secret, 'hex')] : [])]) {
    for (let shift = 0; shift < 3; shift++) {
      const part = data.subarray(shift);
      const whole = Math.floor(part.length / 3) * 4;
      for (const encoding of ['base64', 'base64url'] as const) {
        const needle = part.toString(encoding).slice(0, whole);
        if (needle.length >= 12) forms.add(needle);
      }
    }
  }
  return [...forms].filter((f) => f.length >= 8);
}

let db: TestDatabase;
let redis: TestRedis;
let sshd: TestSshd;
let work: string;
const services: Service[] = [];
const responses: string[] = [];
const secrets: Record<string, string> = {};
/** Values only the API's answers may carry (the JWTs it issues), never a log, Redis or PostgreSQL. */
const issued: Record<string, string> = {};
let base = '';

async function api(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, unknown> & { data?: unknown } }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  responses.push(`${method} ${path} ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))}\n${text}`);
  return { status: res.status, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  [db, redis, sshd] = await Promise.all([createTestDatabase(), createTestRedis(), startTestSshd()]);
  work = await mkdtemp(join(tmpdir(), 'mm-secrets-'));
  const backupDir = join(work, 'backups');
  await mkdir(backupDir);

  secrets.passphrase = `pass-${randomBytes(12).toString('base64url')}`;
  secrets.wrongPassphrase = `wrong-${randomBytes(12).toString('base64url')}`;
  secrets.serverPassword = `pw-${randomBytes(12).toString('base64url')}`;
  secrets.serverPasswordChanged = `pw2-${randomBytes(12).toString('base64url')}`;
  secrets.adminPassword = `admin-${randomBytes(12).toString('base64url')}`;
  secrets.operatorPassword = `oper-${randomBytes(12).toString('base64url')}`;
  secrets.JWT_SECRET = randomBytes(32).toString('base64url');
  secrets.CREDENTIALS_KEY = randomBytes(32).toString('hex');
  secrets.BACKUP_ENCRYPTION_KEY = randomBytes(32).toString('hex');
  // The default restic repository's password: the backup worker and the API (downloads) both open the repository.
  secrets.BACKUP_REPOSITORY_PASSWORD = `repo-${randomBytes(12).toString('base64url')}`;
  // The sshd's own key, encrypted with the passphrase: the worker must decrypt it to log in.
  const keyFile = join(work, 'id_ed25519');
  await writeFile(keyFile, sshd.privateKey, { mode: 0o600 });
  await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', secrets.passphrase, '-f', keyFile]);
  secrets.privateKey = await readFile(keyFile, 'utf8');
  await rm(keyFile);
  // Every line of the key body as well: a log would break a key at its newlines.
  secrets.privateKey.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')).forEach((line, i) => (secrets[`privateKey line ${i + 1}`] = line));

  const source = join(sshd.workDir, 'site');
  await mkdir(source);
  await writeFile(join(source, 'index.html'), '<h1>hello</h1>\n');
  await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, source]);
  await chmod(work, 0o755);

  const common = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'trace',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    // The test sshd listens on loopback, which workers refuse by default.
    SERVER_ALLOW_LOOPBACK: 'true',
    QUEUE_PREFIX: redis.prefix,
    CREDENTIALS_KEY: secrets.CREDENTIALS_KEY,
    BACKUP_DIR: backupDir,
    BACKUP_REPOSITORY_PASSWORD: secrets.BACKUP_REPOSITORY_PASSWORD,
    SHUTDOWN_TIMEOUT_MS: '20000',
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
  };
  services.push(
    startService('api', 'services/api', 'src/server.ts', {
      ...common,
      JWT_SECRET: secrets.JWT_SECRET,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_EMAIL: 'admin@example.test',
      ADMIN_PASSWORD: secrets.adminPassword,
      // The test polls job states from one address; the default (300 a minute) would answer it 429.
      RATE_LIMIT_MAX: '100000',
    }),
    startService('backup-worker', 'services/backup-worker', 'src/main.ts', { ...common, BACKUP_ENCRYPTION_KEY: secrets.BACKUP_ENCRYPTION_KEY }),
    startService('scan-worker', 'services/scan-worker', 'src/main.ts', common),
    startService('update-worker', 'services/update-worker', 'src/main.ts', common),
  );
  const [apiService, ...workerServices] = services as [Service, ...Service[]];
  const port = await waitFor(() => /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(apiService.output())?.[1], `the API to listen: ${apiService.output().slice(-2_000)}`);
  base = `http://127.0.0.1:${port}`;
  for (const w of workerServices) await waitFor(() => (w.output().includes('"worker ready"') ? true : undefined), `${w.name} to start: ${w.output().slice(-2_000)}`);
});

afterAll(async () => {
  for (const s of services) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(services.map((s) => s.exited));
  await sshd?.stop();
  await redis?.cleanup();
  await db?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

type JobView = { state: string; failedReason?: string };

async function trigger(token: string, serverId: string, kind: 'backup' | 'scan' | 'update', body: object): Promise<string> {
  const res = await api('POST', `/api/servers/${serverId}/${kind}`, token, body);
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return (res.json.data as { jobId: string }).jobId;
}

async function settle(token: string, jobId: string): Promise<JobView> {
  return waitFor(async () => {
    const view = (await api('GET', `/api/jobs/${jobId}`, token)).json.data as JobView | undefined;
    return view && (view.state === 'completed' || view.state === 'failed') ? view : undefined;
  }, `job ${jobId}`, 120_000);
}

async function dumpRedis(): Promise<string> {
  const r = redis.redis;
  const lines: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${redis.prefix}:*`, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      const type = await r.type(key);
      let value: unknown;
      if (type === 'string') value = await r.get(key);
      else if (type === 'hash') value = await r.hgetall(key);
      else if (type === 'list') value = await r.lrange(key, 0, -1);
      else if (type === 'set') value = await r.smembers(key);
      else if (type === 'zset') value = await r.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'stream') value = await r.xrange(key, '-', '+');
      lines.push(`${key} ${type} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return lines.join('\n');
}

async function dumpPostgres(): Promise<string> {
  const tables = await db.sql<{ schema: string; name: string }[]>`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`;
  const lines: string[] = [];
  for (const { schema, name } of tables) {
    const rows = await db.sql.unsafe<{ row: string }[]>(`select t::text as row from "${schema}"."${name}" t`);
    for (const { row } of rows) lines.push(`${schema}.${name} ${row}`);
  }
  return lines.join('\n');
}

describe('secrets scenario', () => {
  it('has a leak detector that finds a secret raw, JSON-escaped and base64-encoded at any offset', () => {
    const secret = 'line one\nline "two" of a secret';
    const found = (text: string) => leakForms(secret).some((form) => text.includes(form));
    for (const prefix of ['', 'a', 'ab', 'abc']) expect(found(Buffer.from(`${prefix}${secret}!`).toString('base64')), prefix).toBe(true);
    expect(found(JSON.stringify({ log: `x${secret}` }))).toBe(true);
    expect(found(Buffer.from(`zz${secret}`).toString('base64url'))).toBe(true);
    const key = randomBytes(32).toString('hex');
    expect(leakForms(key).some((form) => Buffer.from(key, 'hex').toString('base64').includes(form))).toBe(true);
    expect(found('nothing to see')).toBe(false);
  });

  it('leaves no private key, passphrase, password, JWT secret or encryption key in responses, logs, Redis or PostgreSQL', async () => {
    // Users: the seeded admin logs in (and once mistypes), then creates an operator.
    const typo = await api('POST', '/api/auth/login', null, { email: 'admin@example.test', password: `${secrets.adminPassword}-typo` });
    expect(typo.status).toBe(401);
    const adminLogin = await api('POST', '/api/auth/login', null, { email: 'admin@example.test', password: secrets.adminPassword });
    expect(adminLogin.status).toBe(200);
    const admin = (adminLogin.json.data as { token: string }).token;
    expect((await api('POST', '/api/users', admin, { email: 'operator@example.test', password: secrets.operatorPassword, role: 'operator' })).status).toBe(201);
    const operatorLogin = await api('POST', '/api/auth/login', null, { email: 'operator@example.test', password: secrets.operatorPassword });
    const operator = (operatorLogin.json.data as { token: string }).token;
    Object.assign(issued, { adminToken: admin, operatorToken: operator });

    // A server with a passphrase-protected key (host key trusted on first use), and one with a password sshd refuses.
    const keyServer = await api('POST', '/api/servers', operator, {
      name: 'web-key',
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      auth: { type: 'key', privateKey: secrets.privateKey, passphrase: secrets.passphrase },
      backupPaths: [join(sshd.workDir, 'site')],
    });
    expect(keyServer.status, JSON.stringify(keyServer.json)).toBe(201);
    const keyId = (keyServer.json.data as { id: string }).id;
    const passwordServer = await api('POST', '/api/servers', operator, {
      name: 'web-password',
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      auth: { type: 'password', password: secrets.serverPassword },
      hostKeyFingerprint: sshd.hostKeyFingerprint,
      backupPaths: [join(sshd.workDir, 'site')],
    });
    expect(passwordServer.status).toBe(201);
    const passwordId = (passwordServer.json.data as { id: string }).id;
    const wrongKeyServer = await api('POST', '/api/servers', operator, {
      name: 'web-wrong-passphrase',
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      auth: { type: 'key', privateKey: secrets.privateKey, passphrase: secrets.wrongPassphrase },
      hostKeyFingerprint: sshd.hostKeyFingerprint,
    });
    expect(wrongKeyServer.status).toBe(201);
    const wrongKeyId = (wrongKeyServer.json.data as { id: string }).id;
    expect((await api('PATCH', `/api/servers/${passwordId}`, operator, { auth: { type: 'password', password: secrets.serverPasswordChanged } })).status).toBe(200);

    // Work that succeeds, and work that fails on purpose (password auth is off on the sshd; updates need root).
    const ok = await Promise.all([
      trigger(operator, keyId, 'backup', { encryption: true }),
      trigger(operator, keyId, 'scan', { scan_type: 'quick' }),
      trigger(operator, keyId, 'scan', { scan_type: 'full' }),
      trigger(operator, keyId, 'update', { dry_run: true }),
    ]);
    const failing = await Promise.all([
      trigger(operator, passwordId, 'backup', {}),
      trigger(operator, passwordId, 'scan', { scan_type: 'quick' }),
      trigger(operator, keyId, 'update', { dry_run: false }),
      trigger(operator, wrongKeyId, 'scan', { scan_type: 'quick' }),
    ]);
    const okViews = await Promise.all(ok.map((id) => settle(operator, id)));
    const failedViews = await Promise.all(failing.map((id) => settle(operator, id)));
    expect(okViews.map((v) => `${v.state} ${v.failedReason ?? ''}`.trim())).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(failedViews.map((v) => v.state)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect(failedViews[0]?.failedReason).toMatch(/authentication failed/i);
    expect(failedViews[2]?.failedReason).toMatch(/needs root/);

    // Read back everything an operator or viewer can see.
    for (const path of ['/api/servers', `/api/servers/${keyId}`, `/api/servers/${passwordId}`, `/api/servers/${wrongKeyId}`, '/api/jobs?limit=100', '/api/jobs/stats/all', '/api/metrics/queues', '/api/metrics/system', '/api/queues', '/api/users']) {
      await api('GET', path, admin);
    }
    for (const id of [keyId, passwordId]) for (const kind of ['backups', 'scans', 'updates']) await api('GET', `/api/servers/${id}/${kind}?limit=100`, admin);
    for (const id of [...ok, ...failing]) await api('GET', `/api/jobs/${id}`, admin);
    await api('GET', '/docs/json', null);
    await api('GET', '/health', null);

    // Stop every process the way an operator would, so shutdown logging is captured too.
    for (const s of services) s.child.kill('SIGTERM');
    const exits = await Promise.all(services.map((s) => s.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0]);

    const haystacks: Record<string, string> = {
      'API responses': responses.join('\n'),
      ...Object.fromEntries(services.map((s) => [`${s.name} log`, s.output()])),
      Redis: await dumpRedis(),
      PostgreSQL: await dumpPostgres(),
    };
    // The capture really holds the scenario: trace logs, job data and logs, records.
    expect(haystacks['backup-worker log']).toContain('"backup stored"');
    expect(haystacks['api log']).toContain('"job enqueued"');
    expect(haystacks.Redis).toContain(ok[0]);
    expect(haystacks.Redis).toMatch(/:logs /);
    expect(haystacks.PostgreSQL).toContain('web-password');

    const leaks: string[] = [];
    for (const [name, secret] of Object.entries(secrets)) {
      for (const form of leakForms(secret)) for (const [where, text] of Object.entries(haystacks)) if (text.includes(form)) leaks.push(`${name} (${form === secret ? 'raw' : `as ${form.slice(0, 12)}...`}) in ${where}`);
    }
    for (const [name, token] of Object.entries(issued)) {
      for (const [where, text] of Object.entries(haystacks)) if (where !== 'API responses' && text.includes(token)) leaks.push(`${name} in ${where}`);
    }
    expect(leaks).toEqual([]);

    // The credentials column holds ciphertext that decrypts, with CREDENTIALS_KEY, to exactly what was sent.
    // Bound to each row's id, host, port and username.
    const rows = await db.sql<{ id: string; credentials: string; host: string; port: number; username: string }[]>`select id, credentials, host, port, username from servers`;
    const opened = (id: string) => {
      const row = rows.find((r) => r.id === id);
      if (!row) throw new Error(`no server ${id}`);
      return decryptCredentials(row.credentials, secrets.CREDENTIALS_KEY ?? '', { serverId: row.id, host: row.host, port: row.port, username: row.username });
    };
    expect(opened(keyId)).toEqual({ type: 'key', privateKey: secrets.privateKey, passphrase: secrets.passphrase });
    expect(opened(passwordId)).toEqual({ type: 'password', password: secrets.serverPasswordChanged });
  }, 240_000);
});
