import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { open, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inArray } from 'drizzle-orm';
import { backups } from '@mm/db';
import { createProducer, type Producer } from '@mm/jobs';
import { insertTestServer } from '@mm/testing';
import { buildTarCommand } from '@mm/backup-worker/test-kit';
import { compare, NotAvailableError, type Measure, type Metric, type Scenario } from '../core/scenario.js';
import { median } from '../core/stats.js';
import { generateBackupTree } from '../fixtures/backup-tree.js';
import { createBenchRedis, type BenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld, type BenchWorld } from '../fixtures/bench-world.js';
import { JobWatch } from '../fixtures/job-watch.js';
import { spawnWorker, waitForWorkers, type WorkerProcess } from '../fixtures/worker-process.js';

const run = promisify(execFile);
const MB = 1_000_000;
const MiB = 1024 * 1024;
const DAYS = 7;
const SERVERS = 10;

const one = (label: string, value: number): Measure => ({ label, median: value, samples: [value] });
const many = (label: string, samples: number[]): Measure => ({ label, median: median(samples), samples });

/** Bytes of every file under `dir` (what the repository or archive folder costs on disk, apparent size). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Rewrites `bytes` spread over the tree's files (1 MiB pieces at random offsets): a day's change. */
async function changeTree(root: string, bytes: number): Promise<void> {
  const files: { path: string; size: number }[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const { size } = await stat(path);
    if (size >= MiB) files.push({ path, size });
  }
  if (files.length === 0) throw new Error('the bench tree has no file of 1 MiB or more to change');
  for (let done = 0; done < bytes; done += MiB) {
    const file = files[Math.floor(Math.random() * files.length)]!;
    const handle = await open(file.path, 'r+');
    try {
      const at = Math.floor(Math.random() * (file.size - MiB + 1));
      await handle.write(randomBytes(Math.min(MiB, bytes - done)), 0, Math.min(MiB, bytes - done), at);
    } finally {
      await handle.close();
    }
  }
}

/** Peak VmHWM of restic processes working on `repository`, polled while `work` runs (restic is the worker's child). */
async function resticPeakRss<T>(repository: string, work: Promise<T>): Promise<{ value: T; peakBytes: number }> {
  let peak = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
        if (!environ.includes(`RESTIC_REPOSITORY=${repository}\0`)) continue;
        const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1];
        if (hwm) peak = Math.max(peak, Number(hwm) * 1024);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { value: await work, peakBytes: peak };
  } finally {
    done = true;
    await poll;
  }
}

interface Lane {
  redis: BenchRedis;
  worker: WorkerProcess;
  producer: Producer;
  watch: JobWatch;
  dir: string;
}

async function startLane(world: BenchWorld, engine: 'restic' | 'archive', password: string): Promise<Lane> {
  const redis = createBenchRedis('backup');
  const dir = await mkdtemp(join(tmpdir(), `mm-bench-${engine}-`));
  const worker = spawnWorker({
    kind: 'backup',
    databaseUrl: world.db.url,
    redisUrl: redis.url,
    prefix: redis.prefix,
    credentialsKey: world.credentialsKey,
    extraEnv: { BACKUP_DIR: dir, BACKUP_ENGINE: engine, BACKUP_REPOSITORY_PASSWORD: password, BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
  });
  const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
  const watch = await JobWatch.start('backup', redis.url, redis.prefix);
  await waitForWorkers(producer.queue('backup'), 1, [worker]);
  return { redis, worker, producer, watch, dir };
}

async function stopLane(lane: Lane | undefined): Promise<void> {
  if (!lane) return;
  await lane.watch.close();
  await lane.producer.close();
  await lane.worker.stop();
  await lane.redis.cleanup();
  await rm(lane.dir, { recursive: true, force: true });
}

export const repositoryBackup: Scenario = {
  id: 'repository-backup',
  title: '10. Repository backups (restic): the worker vs `ssh host tar | restic backup --stdin` by hand; deduplication; restic vs archive engine',
  async run(config) {
    const restic = await run('restic', ['version']).catch(() => undefined);
    if (!restic) throw new NotAvailableError('restic is not installed (apt-get install restic)');
    const world = await createBenchWorld({ backupPaths: (sshd) => [join(sshd.workDir, 'tree')] });
    const password = randomBytes(16).toString('hex');
    const baselineRepo = await mkdtemp(join(tmpdir(), 'mm-bench-restic-by-hand-'));
    let repo: Lane | undefined;
    let plain: Lane | undefined;
    try {
      const treeRoot = world.server.backupPaths[0] as string;
      const treeBytes = await generateBackupTree(treeRoot, config.backupBytes);
      config.log(`repository: generated ${(treeBytes / MB).toFixed(0)} MB`);
      repo = await startLane(world, 'restic', password);
      const repository = join(repo.dir, 'repository');
      const idleRss = await repo.worker.rssBytes();

      const backupVia = async (lane: Lane, serverId: string, compression: boolean) => {
        const backupId = randomUUID();
        const started = process.hrtime.bigint();
        await lane.producer.enqueue('backup:manual', { serverId, backupId, userId: null, isScheduled: false, options: { backup_type: 'full', compression, encryption: false } });
        const done = await lane.watch.completed(backupId, 60 * 60_000);
        const [row] = await world.db.db.select().from(backups).where(inArray(backups.id, [backupId]));
        if (!row) throw new Error(`no record for ${backupId}`);
        return { seconds: Number(done - started) / 1e9, row };
      };
      // By hand: a fresh ssh connection per run (its setup is ~0.1 s of the total), restic reading ssh's stdout.
      const keyFile = join(world.sshd.dir, 'userkey');
      const byHand = async (): Promise<number> => {
        const command = buildTarCommand({ paths: [treeRoot], compression: false });
        const started = process.hrtime.bigint();
        const child = spawn(
          'sh',
          ['-c', 'ssh -i "$KEY" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o Ciphers=aes128-gcm@openssh.com "$TARGET" "$CMD" | restic backup --stdin --stdin-filename tree.tar --no-cache -q'],
          {
            env: { PATH: process.env.PATH, HOME: tmpdir(), KEY: keyFile, PORT: String(world.sshd.port), TARGET: `${world.sshd.username}@${world.sshd.host}`, CMD: command, RESTIC_REPOSITORY: baselineRepo, RESTIC_PASSWORD: password },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
        const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
        if (code !== 0) throw new Error(`ssh | restic exited ${code}: ${stderr.slice(0, 300)}`);
        return Number(process.hrtime.bigint() - started) / 1e9;
      };
      await run('restic', ['init', '--repository-version', '2', '-q'], { env: { PATH: process.env.PATH, HOME: tmpdir(), RESTIC_REPOSITORY: baselineRepo, RESTIC_PASSWORD: password } });

      // Round 1 is each side's first backup into an empty repository; later rounds back up the unchanged tree again.
      const first = { product: 0, baseline: 0 };
      const again = { product: [] as number[], baseline: [] as number[] };
      let resticPeak = 0;
      const rounds = Math.max(2, Math.min(config.rounds + 1, 4));
      const records = [];
      for (let round = 0; round < rounds; round++) {
        const baseline = await byHand();
        const { value, peakBytes } = await resticPeakRss(repository, backupVia(repo, world.server.id, true));
        resticPeak = Math.max(resticPeak, peakBytes);
        records.push(value.row);
        if (round === 0) {
          first.product = treeBytes / MB / value.seconds;
          first.baseline = treeBytes / MB / baseline;
        } else {
          again.product.push(treeBytes / MB / value.seconds);
          again.baseline.push(treeBytes / MB / baseline);
        }
        config.log(`repository round ${round + 1}: worker ${value.seconds.toFixed(1)} s, by hand ${baseline.toFixed(1)} s`);
      }
      const workerPeak = await repo.worker.peakRssBytes();
      const second = records[1]!;
      const addedSecond = (second.bytesAdded ?? 0) / (second.bytesRead ?? 1);

      await changeTree(treeRoot, MiB);
      const changed = await backupVia(repo, world.server.id, true);
      const oneServerBytes = await bytesUnder(repository);
      const others = [];
      for (let i = 1; i < SERVERS; i++) others.push(await insertTestServer(world.db.db, world.sshd, { credentialsKey: world.credentialsKey, name: `bench-copy-${i}`, backupPaths: [treeRoot] }));
      for (const server of others) await backupVia(repo, server.id, true);
      const tenServersBytes = await bytesUnder(repository);
      await stopLane(repo);
      repo = undefined;

      // Engines side by side over a week: day 1 the tree, then 1 % of it changed each day.
      const week = { restic: [] as number[], plain: [] as number[], gzip: [] as number[] };
      const stored = { restic: [] as number[], plain: [] as number[], gzip: [] as number[] };
      repo = await startLane(world, 'restic', password);
      plain = await startLane(world, 'archive', password);
      const weekRepository = join(repo.dir, 'repository');
      for (let day = 1; day <= DAYS; day++) {
        if (day > 1) await changeTree(treeRoot, Math.max(MiB, Math.round(treeBytes / 100)));
        week.restic.push((await backupVia(repo, world.server.id, true)).seconds);
        week.plain.push((await backupVia(plain, world.server.id, false)).seconds);
        week.gzip.push((await backupVia(plain, world.server.id, true)).seconds);
        stored.restic.push(await bytesUnder(weekRepository));
        const archives = await readdir(join(plain.dir, world.server.id));
        let plainBytes = 0;
        let gzipBytes = 0;
        for (const name of archives) {
          const size = (await stat(join(plain.dir, world.server.id, name))).size;
          if (name.endsWith('.tar.gz')) gzipBytes += size;
          else plainBytes += size;
        }
        stored.plain.push(plainBytes);
        stored.gzip.push(gzipBytes);
      }

      const ceiling = { text: 'worker time <= 1.15x by hand (throughput ratio >= 0.87)', check: ({ ratio }: { ratio?: number }) => ratio !== undefined && ratio >= 1 / 1.15 };
      const mb = (b: number) => b / MB;
      const metrics: Metric[] = [
        compare('first backup into an empty local repository', 'MB/s', one('backup worker: enqueue -> completed', first.product), one('ssh host tar -cf - | restic backup --stdin', first.baseline), ceiling),
        compare('backup of the unchanged tree again', 'MB/s', many('backup worker: enqueue -> completed', again.product), many('ssh host tar -cf - | restic backup --stdin', again.baseline), ceiling),
        compare('backup worker peak RSS (VmHWM), restic child not counted', 'MB', one('backup worker process', workerPeak / MiB), undefined, { text: '< 200 MB', check: () => workerPeak < 200 * MiB }),
        compare('restic child peak RSS (VmHWM), reported separately', 'MB', one('restic backup --stdin', resticPeak / MiB), undefined),
        compare('backup worker RSS when idle, for reference', 'MB', one('backup worker process', idleRss / MiB), undefined),
        compare('second unchanged backup: bytes added / bytes read', '%', one('restic data_added', addedSecond * 100), undefined, { text: '< 1 %', check: () => addedSecond < 0.01 }),
        compare('1 MiB changed in the tree: bytes added', 'MiB', one('restic data_added', (changed.row.bytesAdded ?? 0) / MiB), undefined, { text: '<= 8 MiB', check: () => (changed.row.bytesAdded ?? 0) <= 8 * MiB }),
        compare(`${SERVERS} servers with the same files: repository size / one server's`, 'x', one('repository bytes on disk', tenServersBytes / oneServerBytes), undefined, { text: '< 1.3x', check: () => tenServersBytes / oneServerBytes < 1.3 }),
        compare('engines, day 1: backup time', 's', one('restic repository', week.restic[0]!), one('archive, plain tar', week.plain[0]!)),
        compare('engines, day 1: backup time vs gzip archive', 's', one('restic repository', week.restic[0]!), one('archive, tar.gz', week.gzip[0]!)),
        compare(`engines, days 2-${DAYS} (1 % changed per day): median backup time`, 's', many('restic repository', week.restic.slice(1)), many('archive, plain tar', week.plain.slice(1))),
        compare(`engines, days 2-${DAYS}: median backup time vs gzip archive`, 's', many('restic repository', week.restic.slice(1)), many('archive, tar.gz', week.gzip.slice(1))),
        compare('engines: bytes stored after day 1', 'MB', one('restic repository', mb(stored.restic[0]!)), one('archive, plain tar', mb(stored.plain[0]!))),
        compare('engines: bytes stored after day 1 vs gzip', 'MB', one('restic repository', mb(stored.restic[0]!)), one('archive, tar.gz', mb(stored.gzip[0]!))),
        compare(`engines: bytes stored after ${DAYS} daily runs`, 'MB', one('restic repository', mb(stored.restic.at(-1)!)), one('archive, plain tar', mb(stored.plain.at(-1)!))),
        compare(`engines: bytes stored after ${DAYS} daily runs vs gzip`, 'MB', one('restic repository', mb(stored.restic.at(-1)!)), one('archive, tar.gz', mb(stored.gzip.at(-1)!))),
      ];
      return {
        metrics,
        notes: [
          `Source: ${(treeBytes / MB).toFixed(0)} MB (generateBackupTree: half random, half log-like, small files), restic ${/restic (\S+)/.exec(restic.stdout)?.[1] ?? '?'}, compression auto, local repositories under /tmp.`,
          'Baseline: `ssh … tar -cf - tree | restic backup --stdin` by hand into a repository of its own, a fresh ssh connection per run, cipher aes128-gcm; the worker also hashes the stream, parses its tar headers and writes the file listing to PostgreSQL.',
          'Round 1 is each side\'s first backup into an empty repository; later rounds back up the unchanged tree again. RSS in MiB from /proc/<pid>/status; the restic child is polled every 100 ms.',
          `Deduplication: bytes added are restic's data_added (before compression); the ${SERVERS}-server figure compares the repository's bytes on disk after one server with after ${SERVERS} servers holding the same tree.`,
          `Engines: one restic worker and one archive worker (plain tar and tar.gz runs alternate), ${DAYS} daily runs, 1 % of the tree's bytes rewritten in 1 MiB pieces between runs; bytes stored = all files in the repository / all archives kept (no retention).`,
        ],
      };
    } finally {
      await stopLane(repo);
      await stopLane(plain);
      await rm(baselineRepo, { recursive: true, force: true });
      await world.close();
    }
  },
};
