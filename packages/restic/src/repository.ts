import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyFailure, ResticError } from './errors.js';
import { prepareInvocation, type Invocation } from './invocation.js';
import { forEachLine } from './json-lines.js';
import { repositoryString, type ResticTarget } from './location.js';
import { collect, spawnRestic, type Spawned } from './run-restic.js';
import type { BackupProgress, BackupSummary, CheckResult, ForgetPolicy, Snapshot, SnapshotNode } from './types.js';

export interface ResticOptions {
  /** The restic executable (default `restic` on PATH). */
  binary?: string;
  /** restic's local cache; without one every call runs with --no-cache. */
  cacheDir?: string;
  /** How long a call waits in total for a conflicting lock to go away before failing with a retryable 'locked'. */
  lockWaitMs?: number;
  /** First pause between lock attempts; doubles up to 10 s. */
  lockRetryDelayMs?: number;
  /** The environment restic's PATH/HOME/TMPDIR come from (default process.env); nothing else is passed on. */
  baseEnv?: NodeJS.ProcessEnv;
}

export interface BackupStdinOptions {
  /** Opens the data to store; called again for each attempt after a lock conflict (the first stream is destroyed). */
  source: () => Readable | Promise<Readable>;
  filename: string;
  host: string;
  tags: string[];
  compression: boolean;
  onProgress?: (progress: BackupProgress) => void;
  signal?: AbortSignal;
}

const MAX_JSON_LINE = 1024 * 1024;
const MAX_COLLECTED = 64 * 1024 * 1024;

/**
 * One restic repository, driven through the `restic` binary. Secrets reach restic only through its environment and
 * 0600 files (see invocation.ts). Call `close()` when done: it removes those files.
 */
export class ResticRepository {
  readonly target: ResticTarget;
  private readonly binary: string;
  private readonly lockWaitMs: number;
  private readonly lockRetryDelayMs: number;
  private invocation?: Promise<Invocation>;

  constructor(target: ResticTarget, private readonly options: ResticOptions = {}) {
    this.target = target;
    this.binary = options.binary ?? 'restic';
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    this.lockRetryDelayMs = options.lockRetryDelayMs ?? 500;
  }

  /** The repository string without credentials (for `restic -r` in docs and messages). */
  get repository(): string {
    return repositoryString(this.target.location);
  }

  async close(): Promise<void> {
    const inv = this.invocation;
    this.invocation = undefined;
    if (inv) await (await inv.catch(() => undefined))?.dispose();
  }

  /** Opens the repository: checks it exists and the password opens it ('wrong-password' / 'not-a-repository' otherwise). */
  async open(): Promise<void> {
    await this.runCollect('open', ['cat', 'config'], { lock: false });
  }

  /** Initialises a repository (format version 2, compression), or opens the one already there with our password. */
  async initOrOpen(): Promise<'created' | 'opened'> {
    try {
      await this.open();
      return 'opened';
    } catch (err) {
      if (!(err instanceof ResticError) || err.kind !== 'not-a-repository') throw err;
    }
    try {
      await this.runCollect('init', ['init', '--repository-version', '2'], { lock: false });
      return 'created';
    } catch (err) {
      // Two workers initialising the same default repository at once: the loser opens the winner's.
      if (err instanceof ResticError && err.kind === 'already-initialised') {
        await this.open();
        return 'opened';
      }
      throw err;
    }
  }

  /** `restic backup --stdin --json`: stores one stream as one file of a new snapshot. */
  async backupStdin(opts: BackupStdinOptions): Promise<BackupSummary> {
    const args = [
      'backup', '--stdin', '--stdin-filename', opts.filename, '--host', opts.host, '--json',
      '--compression', opts.compression ? 'auto' : 'off',
      ...opts.tags.flatMap((t) => ['--tag', t]),
    ];
    return this.withLockRetry('backup', opts.signal, async () => {
      const inv = await this.prepare();
      const spawned = spawnRestic(this.binary, [...inv.args, ...args], inv.env, 'pipe');
      const onAbort = () => spawned.child.kill('SIGINT');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let summary: Record<string, unknown> | undefined;
      const errors: string[] = [];
      forEachLine(spawned.child.stdout!, MAX_JSON_LINE, (line) => {
        const msg = parseJson(line);
        if (!msg) return;
        if (msg.message_type === 'status') {
          opts.onProgress?.({ bytesDone: num(msg.bytes_done), percentDone: typeof msg.percent_done === 'number' ? msg.percent_done : undefined });
        } else if (msg.message_type === 'summary') summary = msg;
        else if (msg.message_type === 'error' && errors.length < 20) errors.push(JSON.stringify(msg.error ?? msg).slice(0, 500));
      });
      const source = await opts.source();
      // restic exiting early (lock conflict, bad password) closes its stdin: that EPIPE is not the failure to report.
      const feeding = pipeline(source, spawned.child.stdin!).then(
        () => undefined,
        (err: unknown) => err,
      );
      try {
        const result = await spawned.done;
        const feedError = await feeding;
        if (result.spawnError) throw this.spawnFailure(result.spawnError);
        if (result.code !== 0 || !summary) {
          if (!source.destroyed) source.destroy();
          if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('backup aborted');
          throw await this.failure(inv, 'backup', `${result.stderr}\n${errors.join('\n')}`, result.code);
        }
        if (feedError) throw feedError;
        return {
          snapshotId: await this.fullSnapshotId(String(summary.snapshot_id ?? '')),
          bytesRead: num(summary.total_bytes_processed),
          bytesAdded: num(summary.data_added),
          durationSeconds: num(summary.total_duration),
        };
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
      }
    });
  }

  async snapshots(filter: { tags?: string[]; host?: string } = {}): Promise<Snapshot[]> {
    const args = ['snapshots', '--json', '--no-lock'];
    // One --tag with commas means "all of these"; repeated --tag means "any".
    if (filter.tags?.length) args.push('--tag', filter.tags.join(','));
    if (filter.host) args.push('--host', filter.host);
    const out = await this.runCollect('snapshots', args, { lock: false });
    const list = parseJson(`{"l":${out.trim() || '[]'}}`)?.l;
    return (Array.isArray(list) ? (list as RawSnapshot[]) : []).map(toSnapshot);
  }

  /** restic 0.14's backup summary names the snapshot by its short id; records keep the full one. */
  private async fullSnapshotId(shortId: string): Promise<string> {
    if (!/^[0-9a-f]{8,64}$/.test(shortId)) throw new ResticError('failed', `restic reported no snapshot id for the backup to '${this.target.name}'`);
    const out = await this.runCollect('snapshots', ['snapshots', '--json', '--no-lock', shortId], { lock: false });
    const list = parseJson(`{"l":${out.trim() || '[]'}}`)?.l as RawSnapshot[] | undefined;
    const id = list?.find((s) => s.id.startsWith(shortId))?.id;
    if (!id) throw new ResticError('failed', `snapshot ${shortId} of '${this.target.name}' not found right after its backup`);
    return id;
  }

  /** Calls `onNode` for every node of a snapshot (`restic ls --json`), streamed: listings can be large. */
  async ls(snapshotId: string, onNode: (node: SnapshotNode) => void, signal?: AbortSignal): Promise<void> {
    await this.withLockRetry('ls', signal, async () => {
      const inv = await this.prepare();
      const spawned = spawnRestic(this.binary, [...inv.args, 'ls', '--json', snapshotId], inv.env, 'ignore');
      forEachLine(spawned.child.stdout!, MAX_JSON_LINE, (line) => {
        const msg = parseJson(line);
        if (!msg || msg.struct_type !== 'node') return;
        onNode({
          path: String(msg.path),
          name: String(msg.name),
          type: String(msg.type) as SnapshotNode['type'],
          size: typeof msg.size === 'number' ? msg.size : undefined,
          mtime: typeof msg.mtime === 'string' ? msg.mtime : undefined,
        });
      });
      await this.finish(inv, spawned, 'ls');
    });
  }

  /**
   * `restic dump <snapshot> <path>`: the file's bytes on `stdout`. `done` settles when restic exits (rejects with a
   * classified error); the caller must consume `stdout`. `kill()` stops it (a download whose client went away).
   */
  async dump(snapshotId: string, path: string): Promise<{ stdout: Readable; done: Promise<void>; kill: () => void }> {
    const inv = await this.prepare();
    const spawned = spawnRestic(this.binary, [...inv.args, 'dump', snapshotId, path], inv.env, 'ignore');
    const done = this.finish(inv, spawned, 'dump');
    // The caller attaches its handler later; until then a failure must not count as unhandled.
    done.catch(() => undefined);
    return { stdout: spawned.child.stdout!, done, kill: () => spawned.child.kill('SIGINT') };
  }

  /** `restic forget` of the snapshots carrying all `tags`, grouped as one series; returns the ids it removed. */
  async forget(tags: string[], policy: ForgetPolicy): Promise<{ removed: string[]; kept: string[] }> {
    const args = ['forget', '--json', '--group-by', '', '--tag', tags.join(',')];
    const rules: [keyof ForgetPolicy, string][] = [
      ['keepLast', '--keep-last'], ['keepDaily', '--keep-daily'], ['keepWeekly', '--keep-weekly'],
      ['keepMonthly', '--keep-monthly'], ['keepYearly', '--keep-yearly'],
    ];
    let any = false;
    for (const [key, flag] of rules) {
      const n = policy[key];
      if (n !== undefined && n > 0) {
        args.push(flag, String(n));
        any = true;
      }
    }
    // restic refuses a forget without any keep rule rather than removing everything: so do we.
    if (!any) throw new ResticError('failed', 'a retention policy needs at least one keep rule');
    const out = await this.runCollect('forget', args, { lock: true });
    const parsed = parseJson(`{"l":${out.trim() || '[]'}}`)?.l;
    const groups = (Array.isArray(parsed) ? parsed : []) as { keep?: RawSnapshot[] | null; remove?: RawSnapshot[] | null }[];
    const removed: string[] = [];
    const kept: string[] = [];
    for (const g of groups) {
      for (const s of g.remove ?? []) removed.push(s.id);
      for (const s of g.keep ?? []) kept.push(s.id);
    }
    return { removed, kept };
  }

  /** Removes the given snapshots (for example a partial one left by a killed backup). */
  async forgetIds(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.runCollect('forget', ['forget', ...ids], { lock: true });
  }

  /** `restic prune`: takes the exclusive lock; waits for shared locks within the bound. */
  async prune(): Promise<void> {
    await this.runCollect('prune', ['prune'], { lock: true });
  }

  /** `restic check`, with `--read-data-subset=n/t` to read part of the packs. A damaged repository is `ok: false`, not a throw. */
  async check(readDataSubset?: { n: number; t: number }): Promise<CheckResult> {
    const args = ['check'];
    if (readDataSubset) args.push(`--read-data-subset=${readDataSubset.n}/${readDataSubset.t}`);
    return this.withLockRetry('check', undefined, async () => {
      const inv = await this.prepare();
      const spawned = spawnRestic(this.binary, [...inv.args, ...args], inv.env, 'ignore');
      const stdout = collect(spawned.child.stdout!, MAX_COLLECTED, () => spawned.child.kill('SIGKILL'));
      const result = await spawned.done;
      const out = await stdout.catch(() => '');
      if (result.spawnError) throw this.spawnFailure(result.spawnError);
      if (result.code === 0) return { ok: true, output: tail(out, 20), damagedPacks: [] };
      const both = `${out}\n${result.stderr}`;
      // Only a verdict about the data is 'not ok'; a lock, a password or the network is an error to retry or report.
      if (/repository contains errors|Pack ID does not match|ciphertext verification failed|error for tree|errors were found/i.test(both)) {
        return { ok: false, output: tail(both, 40), damagedPacks: damagedPacksIn(both) };
      }
      throw await this.failure(inv, 'check', result.stderr, result.code);
    });
  }

  /**
   * The snapshots (full ids) holding any blob of these packs: `restic find --json --pack`, which reads the index and
   * the snapshots' trees, not the damaged data itself.
   */
  async snapshotsUsingPacks(packIds: string[]): Promise<string[]> {
    const ids = packIds.filter((id) => /^[0-9a-f]{64}$/.test(id));
    if (ids.length === 0) return [];
    const out = await this.runCollect('find', ['find', '--json', '--pack', ...ids], { lock: true });
    const found = new Set<string>();
    // One JSON array per pattern, or one for all of them: take every "snapshot" field either way.
    for (const match of out.matchAll(/"snapshot":"([0-9a-f]{64})"/g)) found.add(match[1]!);
    return [...found];
  }

  /**
   * `restic unlock` without --remove-all: restic removes only locks it can prove stale (created on this host by a
   * process that no longer exists, or not refreshed for 30 minutes). Live locks of other workers stay.
   */
  async unlockStale(): Promise<void> {
    await this.runCollect('unlock', ['unlock'], { lock: false });
  }

  /** Repository size (raw data after compression) and snapshot count. */
  async stats(): Promise<{ totalSize: number; snapshotsCount: number }> {
    const out = await this.runCollect('stats', ['stats', '--json', '--mode', 'raw-data'], { lock: true });
    const msg = parseJson(out.trim()) ?? {};
    return { totalSize: num(msg.total_size), snapshotsCount: num(msg.snapshots_count) };
  }

  private prepare(): Promise<Invocation> {
    this.invocation ??= prepareInvocation(this.target, { cacheDir: this.options.cacheDir, baseEnv: this.options.baseEnv });
    const inv = this.invocation;
    inv.catch(() => {
      if (this.invocation === inv) this.invocation = undefined;
    });
    return inv;
  }

  private spawnFailure(err: NodeJS.ErrnoException): ResticError {
    if (err.code === 'ENOENT') return new ResticError('missing-binary', `restic is not installed (apt-get install restic): ${this.binary} not found`);
    return new ResticError('failed', `could not start restic: ${err.message}`);
  }

  private async finish(inv: Invocation, spawned: Spawned, operation: string): Promise<void> {
    const result = await spawned.done;
    if (result.spawnError) throw this.spawnFailure(result.spawnError);
    if (result.code !== 0) throw await this.failure(inv, operation, result.stderr, result.code);
  }

  /**
   * restic's failure as a ResticError. An SFTP session that ended before it started (EOF) without ssh's own reason in
   * restic's output is asked again of ssh itself (Invocation.probeTransport), so a refused key is "access denied",
   * not "unreachable", every time.
   */
  private async failure(inv: Invocation, operation: string, stderr: string, code: number | null): Promise<ResticError> {
    const err = classifyFailure(this.target.name, operation, stderr, code);
    if (err.kind !== 'unreachable' || !inv.probeTransport || !/unable to start the sftp session/i.test(stderr)) return err;
    const said = await inv.probeTransport();
    const probed = classifyFailure(this.target.name, operation, `${stderr}\nsubprocess ssh: ${said}`, code);
    return probed.kind === 'access-denied' || probed.kind === 'host-key-mismatch' ? probed : err;
  }

  private async runCollect(operation: string, args: string[], opts: { lock: boolean }): Promise<string> {
    const once = async () => {
      const inv = await this.prepare();
      const spawned = spawnRestic(this.binary, [...inv.args, ...args], inv.env, 'ignore');
      const stdout = collect(spawned.child.stdout!, MAX_COLLECTED, () => spawned.child.kill('SIGKILL'));
      stdout.catch(() => undefined);
      await this.finish(inv, spawned, operation);
      return stdout;
    };
    return opts.lock ? this.withLockRetry(operation, undefined, once) : once();
  }

  /**
   * Runs `attempt`; while it fails because the repository is locked, removes provably stale locks and tries again
   * with a growing pause, for at most lockWaitMs in total. Then the 'locked' error (retryable) goes to the caller.
   */
  private async withLockRetry<T>(operation: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.lockWaitMs;
    let delay = this.lockRetryDelayMs;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof ResticError) || err.kind !== 'locked' || signal?.aborted) throw err;
        if (Date.now() + delay > deadline) {
          throw new ResticError('locked', `storage target '${this.target.name}' stayed locked by another restic process for ${Math.round(this.lockWaitMs / 1000)} s; ${operation} will be retried`, err.detail);
        }
        await this.unlockStale().catch(() => undefined);
        await sleep(delay, undefined, signal ? { signal } : undefined);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }
}

interface RawSnapshot {
  id: string;
  short_id?: string;
  time: string;
  hostname: string;
  tags?: string[] | null;
  paths?: string[] | null;
}

function toSnapshot(s: RawSnapshot): Snapshot {
  return { id: s.id, shortId: s.short_id ?? s.id.slice(0, 8), time: s.time, hostname: s.hostname, tags: s.tags ?? [], paths: s.paths ?? [] };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Pack ids restic's check names as damaged ("Pack ID does not match, want <id>", "pack <id> contains N errors"). */
export function damagedPacksIn(output: string): string[] {
  const ids = new Set<string>();
  for (const match of output.matchAll(/(?:Pack ID does not match, want |\bpack )([0-9a-f]{64})\b/gi)) ids.add(match[1]!.toLowerCase());
  return [...ids].slice(0, 200);
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const tail = (s: string, n: number): string => s.trimEnd().split('\n').slice(-n).join('\n');
