import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProducer } from '@mm/jobs';
import { buildTarCommand } from '@mm/backup-worker/test-kit';
import { BASELINE_CIPHER, openSystemSshTar, type SystemSshTar } from '../baselines/system-ssh-tar.js';
import { compare, type Measure, type Metric, type Scenario } from '../core/scenario.js';
import { median } from '../core/stats.js';
import { generateBackupTree } from '../fixtures/backup-tree.js';
import { createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';
import { JobWatch } from '../fixtures/job-watch.js';
import { spawnWorker, waitForWorkers } from '../fixtures/worker-process.js';

const MB = 1_000_000;
const RSS_LIMIT_BYTES = 150 * 1024 * 1024;

const throughput = (label: string, samples: number[]): Measure => ({ label, median: median(samples), samples });

export const backupStreaming: Scenario = {
  id: 'backup-streaming',
  title: '6. Backup streaming: the backup worker vs `ssh host tar -cf - paths > file`, without and with compression',
  async run(config) {
    const world = await createBenchWorld({ backupPaths: (sshd) => [join(sshd.workDir, 'tree')] });
    const redis = createBenchRedis('backup');
    const backupDir = await mkdtemp(join(tmpdir(), 'mm-bench-backups-'));
    const baselineDir = await mkdtemp(join(tmpdir(), 'mm-bench-ssh-tar-'));
    const worker = spawnWorker({
      kind: 'backup',
      databaseUrl: world.db.url,
      redisUrl: redis.url,
      prefix: redis.prefix,
      credentialsKey: world.credentialsKey,
      // This scenario measures the archive engine; repository-backup.ts measures restic.
      extraEnv: { BACKUP_DIR: backupDir, BACKUP_ENGINE: 'archive', BACKUP_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    });
    const producer = createProducer({ connection: redis.url, prefix: redis.prefix });
    const watch = await JobWatch.start('backup', redis.url, redis.prefix);
    let systemSsh: SystemSshTar | undefined;
    try {
      const treeRoot = world.server.backupPaths[0] as string;
      const generated = Date.now();
      const treeBytes = await generateBackupTree(treeRoot, config.backupBytes);
      config.log(`backup: generated ${(treeBytes / MB).toFixed(0)} MB under the sshd's work dir in ${((Date.now() - generated) / 1_000).toFixed(1)} s`);
      await waitForWorkers(producer.queue('backup'), 1, [worker]);
      const idleRss = await worker.rssBytes();

      const viaWorker = async (compression: boolean): Promise<number> => {
        const backupId = randomUUID();
        const started = process.hrtime.bigint();
        await producer.enqueue('backup:manual', { serverId: world.server.id, backupId, userId: null, isScheduled: false, options: { backup_type: 'full', compression, encryption: false } });
        const done = await watch.completed(backupId, 30 * 60_000);
        const seconds = Number(done - started) / 1e9;
        await rm(join(backupDir, world.server.id), { recursive: true, force: true });
        return treeBytes / MB / seconds;
      };
      // Opened once and reused by every run, as the worker reuses its pooled connection.
      const baseline = await openSystemSshTar(world.sshd, join(world.sshd.dir, 'userkey'), baselineDir);
      systemSsh = baseline;
      const viaSsh = async (compression: boolean): Promise<number> => {
        const out = join(baselineDir, `archive.tar${compression ? '.gz' : ''}`);
        const command = buildTarCommand({ paths: [treeRoot], compression });
        const { ms } = await baseline.run(command, out);
        await rm(out, { force: true });
        return treeBytes / MB / (ms / 1_000);
      };

      // Warm-up at a tenth of the size would need a second tree; one small backup warms the worker's code paths.
      const rounds = Math.min(config.rounds, 2);
      const plain = { product: [] as number[], baseline: [] as number[] };
      const gzip = { product: [] as number[], baseline: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        plain.baseline.push(await viaSsh(false));
        plain.product.push(await viaWorker(false));
        gzip.baseline.push(await viaSsh(true));
        gzip.product.push(await viaWorker(true));
        config.log(`backup round ${round + 1}: plain ${plain.product.at(-1)?.toFixed(0)} vs ${plain.baseline.at(-1)?.toFixed(0)} MB/s, gzip ${gzip.product.at(-1)?.toFixed(0)} vs ${gzip.baseline.at(-1)?.toFixed(0)} MB/s`);
      }
      const peak = await worker.peakRssBytes();
      const ratioTarget = { text: 'ratio >= 0.9', check: ({ ratio }: { ratio?: number }) => ratio !== undefined && ratio >= 0.9 };
      const metrics: Metric[] = [
        compare('backup throughput, no compression', 'MB/s', throughput('backup worker: enqueue -> completed', plain.product), throughput('ssh host tar -cf - > file', plain.baseline), ratioTarget),
        compare('backup throughput, gzip', 'MB/s', throughput('backup worker: enqueue -> completed', gzip.product), throughput('ssh host tar -czf - > file', gzip.baseline), ratioTarget),
        compare('backup worker peak RSS (VmHWM)', 'MB', { label: 'backup worker process', median: peak / (1024 * 1024), samples: [peak / (1024 * 1024)] }, undefined, {
          text: '< 150 MB',
          check: () => peak < RSS_LIMIT_BYTES,
        }),
        compare('backup worker RSS when idle, before any backup, for reference', 'MB', { label: 'backup worker process', median: idleRss / (1024 * 1024), samples: [idleRss / (1024 * 1024)] }, undefined),
      ];
      return {
        metrics,
        notes: [
          `Source: ${(treeBytes / MB).toFixed(0)} MB (half random files, half log files, a few hundred small files) under the sshd test user's work dir; MB/s = source bytes / seconds.`,
          'Both sides run the same remote tar command (buildTarCommand); the worker also hashes (sha256) what it stores. RSS is MiB, read from /proc/<pid>/status after all backups.',
          `Baseline: the system ssh client over one ControlMaster connection opened before the rounds (the worker reuses its pooled ssh2 connection), cipher ${BASELINE_CIPHER} (what ssh2 negotiates with this sshd), the archive written by the shell's \`> file\`, not through the bench process.`,
        ],
      };
    } finally {
      await systemSsh?.close();
      await watch.close();
      await producer.close();
      await worker.stop();
      await rm(backupDir, { recursive: true, force: true });
      await rm(baselineDir, { recursive: true, force: true });
      await redis.cleanup();
      await world.close();
    }
  },
};
