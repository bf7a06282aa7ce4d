import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { servers } from '@mm/db';
import { insertTestServer, TEST_SSH_USER } from '@mm/testing';
import { ADMIN_EMAIL, PASSWORD, startStack, type Stack } from './helpers/stack.js';
import { BUNDLE, runMm } from './helpers/run-mm.js';
import { createLiveGapNotes, liveGapOf, NOTE_INTERVAL_MS } from '../src/live-gap-notes.js';

const run = promisify(execFile);

// Each test starts the binary several times (a Node start each): on a loaded 2-core CI machine one start took 6 s.
vi.setConfig({ testTimeout: 180_000 });

/**
 * Runs the bundled mm under a pseudo-terminal (util-linux `script`, which exits with the child's status: -e) and answers
 * what it drew, terminal control sequences (ESC [ … letter) taken out so the frames can be matched.
 */
async function underTerminal(args: string[]): Promise<string> {
  const command = [process.execPath, BUNDLE, ...args].map((a) => `'${a}'`).join(' ');
  const { stdout } = await run('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env } });
  return stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '\n');
}

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let stack: Stack;
/** An admin API token, as CI would hold it. */
let adminToken: string;
let viewerToken: string;
let env: Record<string, string>;

async function login(email: string, configDir: string) {
  const res = await runMm(['login', '--url', stack.url, '--email', email, '--password-stdin'], { MM_CONFIG_DIR: configDir }, `${PASSWORD}\n`);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { url: string; token: string; tokenId: string; email: string };
}

beforeAll(async () => {
  await run(process.execPath, ['scripts/bundle.mjs'], { cwd: new URL('..', import.meta.url) });
  stack = await startStack();
  const web1 = await insertTestServer(stack.database.db, stack.sshd, { credentialsKey: stack.env.CREDENTIALS_KEY, name: 'web-1' });
  const web2 = await insertTestServer(stack.database.db, stack.sshd, { credentialsKey: stack.env.CREDENTIALS_KEY, name: 'web-2' });
  await stack.database.db.update(servers).set({ tags: ['edge'] }).where(eq(servers.id, web1.id));
  await stack.database.db.update(servers).set({ tags: ['edge'] }).where(eq(servers.id, web2.id));
  // A host key that is not the sshd's: the scan of this server fails (pinned key mismatch).
  await insertTestServer(stack.database.db, stack.sshd, { credentialsKey: stack.env.CREDENTIALS_KEY, name: 'wrong-key', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}` });
  adminToken = (await login(ADMIN_EMAIL, await stack.configDir())).token;
  viewerToken = (await login('viewer@example.test', await stack.configDir())).token;
  env = { MM_URL: stack.url, MM_TOKEN: adminToken, MM_CONFIG_DIR: await stack.configDir() };
});

afterAll(async () => {
  await stack?.close();
});

describe('mm login', () => {
  it('stores an API token in a 0600 config file, which later commands use', async () => {
    const dir = await stack.configDir();
    const config = await login('operator@example.test', dir);
    expect(config).toMatchObject({ url: stack.url, email: 'operator@example.test' });
    expect(config.token).toMatch(/^mm_pat_/);
    expect((await stat(join(dir, 'config.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const listed = await runMm(['--json', 'servers', 'ls'], { MM_CONFIG_DIR: dir });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['web-1', 'web-2']));
    const tokens = await runMm(['--json', 'token', 'ls'], { MM_CONFIG_DIR: dir });
    expect(JSON.parse(tokens.stdout)).toEqual([expect.objectContaining({ id: config.tokenId, role: 'operator', userEmail: 'operator@example.test' })]);
  });

  it('refuses a wrong password with exit 3 and writes no config', async () => {
    const dir = await stack.configDir();
    const res = await runMm(['login', '--url', stack.url, '--email', ADMIN_EMAIL, '--password-stdin'], { MM_CONFIG_DIR: dir }, 'wrong-password\n');
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('INVALID_CREDENTIALS');
    await expect(stat(join(dir, 'config.json'))).rejects.toThrow();
  });
});

describe('exit codes and --json', () => {
  it('prints only the API data as JSON on stdout, nothing on stderr', async () => {
    const res = await runMm(['--json', 'servers', 'ls', '--tag', 'edge'], env);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    const list = JSON.parse(res.stdout) as { name: string; summary: unknown }[];
    expect(list.map((s) => s.name).sort()).toEqual(['web-1', 'web-2']);
    expect(list[0]?.summary).toBeDefined();
  });

  it('2 for usage errors', async () => {
    for (const args of [
      ['bogus'],
      ['scan'],
      ['scan', 'web-1', '--tag', 'edge'],
      ['scan', '--tag', 'edge', '--selector', '{}'],
      ['scan', '--selector', 'not json'],
      ['scan', 'web-1', '--waves', '1,100%'],
      // The API's 400: a selector that matches no server starts nothing.
      ['scan', '--selector', '{"names":["no-such-*"]}'],
      ['servers', 'rm', 'web-1'],
      ['backup', 'web-1', '--type', 'weekly'],
      ['update', 'web-1', '--reboot', 'sometimes'],
    ]) {
      const res = await runMm(args, env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stdout).toBe('');
    }
    expect((await runMm([], { MM_CONFIG_DIR: env.MM_CONFIG_DIR ?? '' })).code).toBe(2);
    // The environment is checked once (src/env.ts): a malformed variable is named, a secret's value never echoed.
    const badUrl = await runMm(['servers', 'ls'], { ...env, MM_URL: 'ftp://127.0.0.1' });
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/^mm: The environment variable MM_URL is malformed/);
    const badToken = await runMm(['servers', 'ls'], { ...env, MM_TOKEN: 'mm_pat_secret part' });
    expect(badToken.code).toBe(2);
    expect(badToken.stderr).toMatch(/MM_TOKEN is malformed/);
    expect(badToken.stderr).not.toContain('secret part');
  });

  it('3 for a bad token and for a role that may not act, 4 for what does not exist, 5 when the API is unreachable', async () => {
    const bad = await runMm(['servers', 'ls'], { ...env, MM_TOKEN: `mm_pat_${'x'.repeat(43)}` });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/UNAUTHORIZED/);
    const viewer = await runMm(['scan', 'web-1'], { ...env, MM_TOKEN: viewerToken });
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toMatch(/FORBIDDEN/);
    expect((await runMm(['servers', 'show', 'no-such-server'], env)).code).toBe(4);
    expect((await runMm(['jobs', 'get', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(4);
    const closed = await freePort();
    const down = await runMm(['servers', 'ls'], { ...env, MM_URL: `http://127.0.0.1:${closed}` });
    expect(down.code).toBe(5);
    expect(down.stderr).toContain(`Cannot reach the API at http://127.0.0.1:${closed}: ECONNREFUSED`);
  });
});

describe('timestamped lines coalesce the worker\'s "output lines not streamed live" notes', () => {
  const marker = (n: number) => `… ${n} output line${n === 1 ? '' : 's'} not streamed live; GET /api/jobs/j1/logs has every line`;

  it('says one note at most every few seconds per job, with the lines counted since the last, and the rest at the end', () => {
    let now = 1_000_000;
    const said: string[] = [];
    const gaps = createLiveGapNotes('j1', (text) => said.push(text), () => now);
    // 60 markers over 12 s, as a package manager's output makes them (one every 200 ms).
    for (let i = 0; i < 60; i++) {
      expect(gaps.take(marker(i % 2 === 0 ? 3 : 1))).toBe(true);
      now += 200;
    }
    expect(gaps.take('could not resolve mirror.example')).toBe(false);
    gaps.flush();
    gaps.flush();
    expect(said.length).toBeLessThanOrEqual(Math.ceil((60 * 200) / NOTE_INTERVAL_MS) + 1);
    expect(said[0]).toBe('… 3 output lines not streamed live; GET /api/jobs/j1/logs has every line');
    // Every skipped line is counted once: 30 x 3 + 30 x 1.
    const counted = said.map((l) => Number(/^… (\d+) output/.exec(l)?.[1]));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(120);
    expect(said.at(-1)).toMatch(/^… \d+ output lines not streamed live \(120 in all\); GET \/api\/jobs\/j1\/logs has every line$/);
  });

  it('reads only the marker (anchored, bounded) and nothing else', () => {
    expect(liveGapOf(marker(1))).toBe(1);
    expect(liveGapOf(marker(40))).toBe(40);
    expect(liveGapOf(`warning: ${marker(4)}`)).toBeUndefined();
    expect(liveGapOf(`… ${'9'.repeat(100_000)} output lines not streamed live;`)).toBeUndefined();
    const said: string[] = [];
    const gaps = createLiveGapNotes('j1', (text) => said.push(text), () => 0);
    gaps.flush();
    expect(said).toEqual([]);
  });
});

describe('mm scan --watch', () => {
  it('follows a real scan to its end with timestamped lines when stdout is not a terminal', async () => {
    const res = await runMm(['scan', 'web-1', '--type', 'quick', '--watch'], env);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z web-1 scan /);
    expect(lines.at(-1)).toMatch(/web-1 scan completed$/);
    expect(res.stdout).toMatch(/progress 100%/);
  });

  it('starts one fleet run for a tag and prints the finished run as JSON', async () => {
    const res = await runMm(['--json', 'scan', '--tag', 'edge', '--type', 'quick', '--watch'], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const run = JSON.parse(res.stdout) as { action: string; state: string; counts: { completed: number }; options: unknown; waves: { servers: { serverName: string; state: string; jobId: string }[] }[] };
    expect(run).toMatchObject({ action: 'scan', state: 'completed', counts: { completed: 2 }, options: { scan_type: 'quick' } });
    const servers = run.waves.flatMap((w) => w.servers);
    expect(servers.map((s) => [s.serverName, s.state]).sort()).toEqual([['web-1', 'completed'], ['web-2', 'completed']]);
    const job = JSON.parse((await runMm(['--json', 'jobs', 'get', servers[0]!.jobId], env)).stdout) as { name: string; state: string; progress: number };
    expect(job).toMatchObject({ name: 'scan:quick', state: 'completed', progress: 100 });
  });

  it('follows a failing fleet run in waves with timestamped lines and exits 1', async () => {
    // Waves go in name order: web-1 (completes) alone first, then wrong-key (fails its pinned host key).
    const res = await runMm(['scan', 'wrong-key', 'web-1', '--type', 'quick', '--waves', '1,100%', '--watch'], env);
    expect(res.code, res.stdout + res.stderr).toBe(1);
    const lines = res.stdout.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    // Milestones of both waves' jobs, from the first one on (the queue's stream is opened before the run starts).
    expect(res.stdout).toMatch(/ web-1 scan progress 10% \(started\)$/m);
    expect(res.stdout).toMatch(/ web-1 scan completed$/m);
    expect(res.stdout).toMatch(/ wrong-key scan progress 10% \(started\)$/m);
    expect(res.stdout).toMatch(/ wrong-key scan failed: host key mismatch/);
    expect(lines.at(-1)).toMatch(/ run [0-9a-f]{8} failed wave 2\/2 \(wave 2: 1 of 1 servers failed.*\): 1 done, 1 failed, 0 queued, 0 pending$/);
    expect(res.stderr).toMatch(/^wrong-key scan: job [0-9a-f-]{36} failed: host key mismatch/m);
    expect(res.stderr).toMatch(/^run [0-9a-f-]{36} failed /m);
  });

  it('exits 1 when the job fails', async () => {
    const res = await runMm(['scan', 'wrong-key', '--type', 'full', '--watch'], env);
    expect(res.code, res.stdout + res.stderr).toBe(1);
    expect(res.stdout).toMatch(/wrong-key scan failed: /);
  });

  it('draws progress bars that end at 100 % under a pseudo-terminal, for a job and for a fleet run (per server, per wave)', async () => {
    const job = await underTerminal(['scan', 'web-1', '--type', 'quick', '--watch']);
    expect(job).toMatch(/web-1 scan \|█{24}\| 100% completed/);
    // Drawn while running too, not only at the end: some frame shows the bar part-way with a milestone name.
    expect(job).toMatch(/web-1 scan \|█*░+\|\s+\d{1,2}% [a-z]/);

    // A fleet run of two servers: a bar for the run, one per server, followed over the run's and the queue's streams.
    const run = await underTerminal(['scan', '--tag', 'edge', '--type', 'quick', '--watch']);
    expect(run).toMatch(/run [0-9a-f]{8} \|█{24}\| 100% completed wave 1\/1: 2 done/);
    expect(run).toMatch(/web-1 scan\s+\|█{24}\| 100% completed/);
    expect(run).toMatch(/web-2 scan\s+\|█{24}\| 100% completed/);
    expect(run).toMatch(/web-[12] scan\s+\|█*░+\|\s+\d{1,2}% (server verified|record created|execution started|execution finished|results stored)/);
    // The same run followed again once over, a bar per wave (the default above 20 servers).
    const [latest] = JSON.parse((await runMm(['--json', 'runs', 'ls', '--limit', '1'], env)).stdout) as { id: string }[];
    const waves = await underTerminal(['runs', 'show', latest!.id, '--watch', '--bars', 'wave']);
    expect(waves).toMatch(new RegExp(`run ${latest!.id.slice(0, 8)} \\|█{24}\\| 100% completed wave 1/1: 2 done`));
    expect(waves).toMatch(/wave 1\s+\|█{24}\| 100% done: 2 done/);
    for (const screen of [job, run, waves]) expect(screen).not.toMatch(/\d{4}-\d\d-\d\dT/);
  });
});

describe('jobs, servers, tokens, summary', () => {
  it('shows a job, its logs and lists it', async () => {
    const started = await runMm(['--json', 'scan', 'web-1', '--type', 'quick', '--watch'], env);
    const [job] = JSON.parse(started.stdout) as { id: string }[];
    const got = await runMm(['--json', 'jobs', 'get', job!.id], env);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: job!.id, state: 'completed' });
    const logs = await runMm(['jobs', 'logs', job!.id], env);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/\[milestone\] progress 100%/);
    const listed = await runMm(['--json', 'jobs', 'ls', '--server', 'web-1', '--queue', 'scan'], env);
    expect(JSON.parse(listed.stdout).map((j: { id: string }) => j.id)).toContain(job!.id);
    const followed = await runMm(['jobs', 'logs', '-f', job!.id], env);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe(logs.stdout);
  });

  it('adds, shows and removes a server', async () => {
    const added = await runMm(['--json', 'servers', 'add', '--name', 'tmp-1', '--host', '127.0.0.1', '--user', 'deploy', '--password-stdin', '--tag', 'tmp', '--path', '/etc'], env, 'a-server-password\n');
    expect(added.code, added.stderr).toBe(0);
    const created = JSON.parse(added.stdout) as { id: string; name: string; authType: string };
    expect(created).toMatchObject({ name: 'tmp-1', authType: 'password' });
    expect(added.stdout).not.toContain('a-server-password');
    const shown = await runMm(['servers', 'show', 'tmp-1'], env);
    expect(shown.stdout).toMatch(/^id:\s+[0-9a-f-]{36}$/m);
    expect(shown.stdout).toMatch(/^backup paths:\s+\/etc$/m);
    expect((await runMm(['servers', 'rm', 'tmp-1', '--yes'], env)).code).toBe(0);
    expect((await runMm(['servers', 'show', created.id], env)).code).toBe(4);
  });

  it('creates, lists and revokes a token; the revoked one is refused with exit 3', async () => {
    const created = await runMm(['--json', 'token', 'create', '--name', 'ci nightly', '--role', 'viewer', '--expires', '30d'], env);
    expect(created.code, created.stderr).toBe(0);
    const token = JSON.parse(created.stdout) as { id: string; token: string; role: string; expiresAt: string };
    expect(token.role).toBe('viewer');
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await runMm(['summary'], { ...env, MM_TOKEN: token.token })).code).toBe(0);
    const human = await runMm(['token', 'ls'], env);
    expect(human.stdout).toMatch(new RegExp(`^${token.id}\\s+ci nightly\\s+viewer\\s+admin@example.test\\s`, 'm'));
    expect(human.stdout).not.toContain(token.token);
    expect((await runMm(['token', 'create', '--name', 'x', '--role', 'superuser'], env)).code).toBe(2);
    expect((await runMm(['token', 'create', '--name', 'x', '--role', 'admin'], { ...env, MM_TOKEN: viewerToken })).code).toBe(3);
    expect((await runMm(['token', 'revoke', token.id], env)).code).toBe(0);
    expect((await runMm(['summary'], { ...env, MM_TOKEN: token.token })).code).toBe(3);
  });

  it('shows the fleet summary the API computes', async () => {
    const res = await runMm(['--json', 'summary'], env);
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as { servers: Record<string, number>; backups: { overdue: number; serversWithSchedule: number }; fleetRuns: Record<string, number> };
    // web-1 and web-2 were scanned online above; wrong-key's scans failed before reaching it.
    expect(summary.servers).toEqual({ total: 3, online: 2, offline: 0, unknown: 1 });
    expect(summary.backups).toMatchObject({ overdue: 0, serversWithSchedule: 0 });
    expect(summary.fleetRuns.failedLast7Days).toBe(1);
    const human = await runMm(['summary'], env);
    expect(human.stdout).toMatch(/^servers:\s+3$/m);
    expect(human.stdout).toMatch(/^online:\s+2$/m);
    expect(human.stdout).toMatch(/^fleet runs:\s+0 running, 0 paused, 1 failed in 7 days$/m);
  });
});

describe('mm backup, backups ls|download|restore', () => {
  it('backs up a real server, lists, downloads (checksum checked) and restores the backup', async () => {
    const source = join(stack.sshd.workDir, 'cli-source');
    await mkdir(source);
    await writeFile(join(source, 'notes.txt'), 'kept by mm backup\n');
    await run('chown', ['-R', `${TEST_SSH_USER}:${TEST_SSH_USER}`, source]);
    await stack.database.db.update(servers).set({ backupPaths: [source] }).where(eq(servers.name, 'web-1'));

    const backup = await runMm(['backup', 'web-1', '--watch'], env);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stdout.trim().split('\n').at(-1)).toMatch(/web-1 backup completed$/);

    const listed = JSON.parse((await runMm(['--json', 'backups', 'ls', '--server', 'web-1'], env)).stdout) as { id: string; status: string; sha256: string }[];
    expect(listed).toHaveLength(1);
    const [stored] = listed as [{ id: string; status: string; sha256: string }];
    expect(stored.status).toBe('completed');
    const everywhere = JSON.parse((await runMm(['--json', 'backups', 'ls'], env)).stdout) as { id: string }[];
    expect(everywhere.map((b) => b.id)).toContain(stored.id);

    const file = join(await stack.configDir(), 'web-1.backup');
    const downloaded = await runMm(['--json', 'backups', 'download', stored.id, '-o', file], env);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    const bytes = await readFile(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(JSON.parse(downloaded.stdout)).toEqual({ backupId: stored.id, file, sizeBytes: bytes.length, sha256 });
    expect(sha256).toBe(stored.sha256);
    const listing = await run('tar', ['-tf', file]); // GNU tar detects the compression itself
    expect(listing.stdout).toContain('cli-source/notes.txt');

    const files = await runMm(['--json', 'backups', 'files', stored.id, '--path', source], env);
    expect(files.code, files.stderr).toBe(0);
    expect(JSON.parse(files.stdout)).toEqual([expect.objectContaining({ name: 'notes.txt', type: 'file', size: 'kept by mm backup\n'.length })]);
    const human = await runMm(['backups', 'files', stored.id, '--path', source], env);
    expect(human.stdout).toMatch(new RegExp(`^file\\s+18 B\\s+\\S+\\s+${source}/notes\\.txt$`, 'm'));

    const target = join(stack.sshd.workDir, 'cli-restore');
    const restored = await runMm(['backups', 'restore', stored.id, '--target-path', target, '--watch'], env);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(await readFile(join(target, source, 'notes.txt'), 'utf8')).toBe('kept by mm backup\n');
    expect((await runMm(['backups', 'download', '00000000-0000-4000-8000-000000000000', '-o', file], env)).code).toBe(4);
  }, 180_000);
});

describe('mm runs', () => {
  it('lists, shows, pauses, resumes and aborts a fleet run', async () => {
    // Wave 2 waits an hour after wave 1, so the run is still open to be paused, resumed and aborted.
    const res = await runMm(['--json', 'scan', '--selector', '{"names":["web-*"]}', '--type', 'quick', '--waves', '1,100%', '--wave-pause', '3600'], env);
    expect(res.code, res.stderr).toBe(0);
    const { runId, servers: started } = JSON.parse(res.stdout) as { runId: string; servers: { name: string; wave: number }[] };
    expect(started.map((s) => [s.name, s.wave])).toEqual([['web-1', 1], ['web-2', 2]]);
    const listed = JSON.parse((await runMm(['--json', 'runs', 'ls'], env)).stdout) as { id: string; action: string }[];
    expect(listed.find((r) => r.id === runId)).toMatchObject({ action: 'scan' });
    const shown = await runMm(['runs', 'show', runId], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^action:\s+scan$/m);
    expect(shown.stdout).toMatch(/^1\s+web-[12]\s/m);
    expect(shown.stdout).toMatch(/^2\s+web-[12]\s/m);
    const paused = await runMm(['--json', 'runs', 'pause', runId], env);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ id: runId, state: 'paused' });
    expect((await runMm(['runs', 'resume', runId], env)).stdout).toBe(`run ${runId}: running\n`);
    expect((await runMm(['runs', 'abort', runId], env)).code).toBe(0);
    const run = JSON.parse((await runMm(['--json', 'runs', 'show', runId], env)).stdout) as { state: string };
    expect(run.state).toBe('aborted');
    // Following a run that is over: its state at once, and exit 1 for an aborted run.
    const watched = await runMm(['runs', 'show', runId, '--watch'], env);
    expect(watched.code, watched.stderr).toBe(1);
    expect(watched.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`run ${runId.slice(0, 8)} aborted wave \\d/2 \\(aborted by user .*\\): .* 1 skipped$`));
    expect((await runMm(['runs', 'pause', runId], env)).code).toBe(1);
    expect((await runMm(['runs', 'show', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(4);
  }, 180_000);
});

describe('pnpm mm', () => {
  it('runs the CLI from the repo root, with clean stdout and its exit codes', async () => {
    const root = new URL('../../..', import.meta.url);
    const ok = await runMm(['mm', '--json', 'servers', 'ls', '--tag', 'edge'], env, undefined, ['pnpm', '--dir', root.pathname]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveLength(2);
    expect((await runMm(['mm', 'servers', 'show', 'no-such-server'], env, undefined, ['pnpm', '--dir', root.pathname])).code).toBe(4);
  });
});

describe('installing the packed tarball', () => {
  it('npm i -g of the tarball gives a working mm with no workspace or registry access', async () => {
    const dir = await stack.configDir();
    const cwd = new URL('..', import.meta.url);
    // pnpm pack runs prepack (the esbuild bundle) and rewrites workspace: ranges; the bundle holds @mm/client itself.
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', dir, '--json'], { cwd });
    const packed = JSON.parse(stdout) as { filename: string; files: { path: string }[] };
    expect(packed.files.map((f) => f.path).sort()).toEqual(['dist/mm.mjs', 'package.json']);
    const prefix = join(dir, 'prefix');
    await run('npm', ['i', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, packed.filename]);
    const mm = join(prefix, 'bin', 'mm');
    const version = await runMm(['--version'], {}, undefined, [mm]);
    expect(version.stdout.trim()).toBe('0.1.0');
    const help = await runMm(['--help'], {}, undefined, [mm]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mm \[options\] \[command\]/m);
    for (const command of ['login', 'token', 'servers', 'backup', 'scan', 'update', 'jobs', 'backups', 'runs', 'summary']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const res = await runMm(['--json', 'servers', 'ls'], env, undefined, [mm]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toHaveLength(3);
  });
});

// Last: it deletes web-1, which the tests above count and use.
describe('removing a server that has backups', () => {
  it('is refused without --delete-backups; with it a purge job deletes the backups, then the server', async () => {
    const refused = await runMm(['servers', 'rm', 'web-1', '--yes'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/deleteBackups=true/);
    expect((await runMm(['servers', 'show', 'web-1'], env)).code).toBe(0);

    const res = await runMm(['--json', 'servers', 'rm', 'web-1', '--yes', '--delete-backups'], env);
    expect(res.code, res.stderr).toBe(0);
    const answer = JSON.parse(res.stdout) as { id: string; deleting: boolean; jobId: string };
    expect(answer.deleting).toBe(true);
    let shown = await runMm(['servers', 'show', answer.id], env);
    for (let i = 0; i < 120 && shown.code === 0; i++) {
      await delay(500);
      shown = await runMm(['servers', 'show', answer.id], env);
    }
    expect(shown.code).toBe(4);
    const job = await runMm(['--json', 'jobs', 'get', answer.jobId], env);
    expect(JSON.parse(job.stdout)).toMatchObject({ name: 'backup:purge-server', state: 'completed' });
  });
});

describe('mm update --now', () => {
  it("starts an update outside its server's maintenance window for an admin only, one server or a fleet run", async () => {
    const maint = await insertTestServer(stack.database.db, stack.sshd, { credentialsKey: stack.env.CREDENTIALS_KEY, name: 'maint-1' });
    // Shut until next New Year: an update of maint-1 waits for it.
    const window = await fetch(`${stack.url}/api/maintenance-windows/new-year`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cron: '0 0 1 1 *', durationMin: 1, selector: { names: ['maint-*'] } }),
    });
    expect(window.status, await window.text()).toBe(201);
    const jobOf = async (id: string) => JSON.parse((await runMm(['--json', 'jobs', 'get', id], env)).stdout) as { state: string; data?: unknown };
    const jobsOfServer = async () => JSON.parse((await runMm(['--json', 'jobs', 'ls', '--server', 'maint-1'], env)).stdout) as { id: string }[];

    // Without --now: enqueued, then held back (delayed) by the update worker until the window opens.
    const waiting = await runMm(['--json', 'update', 'maint-1', '--dry-run'], env);
    expect(waiting.code, waiting.stderr).toBe(0);
    const [{ jobId: waitingId }] = JSON.parse(waiting.stdout) as [{ jobId: string }];
    let state = (await jobOf(waitingId)).state;
    for (let i = 0; i < 120 && state !== 'delayed'; i++) {
      await delay(250);
      state = (await jobOf(waitingId)).state;
    }
    expect(state).toBe('delayed');

    // An operator may not pass the window: exit 3, nothing enqueued.
    const operatorEnv = { ...env, MM_TOKEN: (await login('operator@example.test', await stack.configDir())).token };
    const refused = await runMm(['update', 'maint-1', '--dry-run', '--now'], operatorEnv);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('FORBIDDEN');
    expect(refused.stdout).toBe('');
    expect((await jobsOfServer()).map((j) => j.id)).toEqual([waitingId]);

    // An admin may: the dry run starts at once and completes, while the other still waits.
    const now = await runMm(['update', 'maint-1', '--dry-run', '--now', '--watch'], env);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stderr).toMatch(/^update: job [0-9a-f-]{36} enqueued$/m);
    expect(now.stdout).toMatch(/maint-1 update completed$/m);
    expect((await jobOf(waitingId)).state).toBe('delayed');

    // A fleet run of updates with --now is marked as such (and refused to an operator).
    expect((await runMm(['update', '--selector', '{"names":["maint-*"]}', '--dry-run', '--now'], operatorEnv)).code).toBe(3);
    const run = await runMm(['--json', 'update', '--selector', '{"names":["maint-*"]}', '--dry-run', '--now', '--watch'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ action: 'update', state: 'completed', ignoreMaintenanceWindows: true, counts: { completed: 1, failed: 0 } });

    // --now is for updates only.
    const scan = await runMm(['scan', 'maint-1', '--now'], env);
    expect(scan.code).toBe(2);
    await fetch(`${stack.url}/api/maintenance-windows/new-year`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    expect(maint.name).toBe('maint-1');
  });
});
