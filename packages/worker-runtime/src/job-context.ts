import { and, eq, isNull } from 'drizzle-orm';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@mm/config';
import { decryptCredentials, servers, type Db, type Server, type ServerCredentials } from '@mm/db';
import { recordIdOf, type JobName, type PayloadOf, type QueueAlias } from '@mm/jobs';
import { createRecordLifecycle, type RecordLifecycle, type RecordWriter } from '@mm/records';
import { HostKeyMismatchError, type SshPool, type SshSession, type SshTarget } from '@mm/ssh';
import type { JobJournal } from './job-journal.js';
import { cutLogLine } from './job-log-writer.js';
import { SecretRedactor } from './secret-redactor.js';

export interface ProgressOptions {
  /** false: job.progress (Redis, events, SSE) only, not the record's progress column; for steps between the milestones a record reader needs. Default true. */
  record?: boolean;
}

/** What a handler `(payload, ctx) => result` gets besides its payload. */
export interface JobContext<Q extends QueueAlias> {
  job: Job;
  /** The id of the record this job writes (catalog `idField`, or derived from a scheduler's job id: `recordIdOf`). */
  recordId: string;
  /** pino child with jobId, queue, jobName and serverId bound. */
  log: Logger;
  db: Db;
  ssh: SshPool;
  /** Fires when the job is cancelled (worker.cancelJob); pass it to ssh exec so the remote command dies too. */
  signal: AbortSignal | undefined;
  /** job.updateProgress(value) and the record's progress column (once the record exists). */
  progress(value: number, opts?: ProgressOptions): Promise<void>;
  /**
   * Appends a line to the job's log, secrets redacted: job_logs in PostgreSQL (batched; GET /api/jobs/:id/logs),
   * the live `log` event (rate-limited) and BullMQ's job.log (bull-board). Lines keep their order; never rejects
   * (a failed write is logged), so `onStdoutLine: (l) => void ctx.output(l)` is safe.
   */
  output(line: string): Promise<void>;
  /** A warning worth reading in the job's log (redacted; always streamed live), also logged with ctx.log.warn. */
  warning(message: string): void;
  /** Loads the server row and decrypts its credentials; a deleted server is UnrecoverableError("server <id> no longer exists"). */
  loadServer(serverId: string): Promise<{ server: Server; target: SshTarget }>;
  /** ssh.session(server.id, target); pins the fingerprint in servers.host_key_fingerprint on first use; a mismatch is UnrecoverableError. */
  connect(server: Server, target: SshTarget): Promise<SshSession>;
  record: RecordWriter<Q>;
}

export interface JobRuntime<Q extends QueueAlias> {
  ctx: JobContext<Q>;
  redactor: SecretRedactor;
  lifecycle: RecordLifecycle<Q>;
}

export interface JobContextDeps<Q extends QueueAlias> {
  queue: Q;
  job: Job;
  /** The job's payload, validated once (schema defaults applied) on its way in. */
  payload: PayloadOf<JobName>;
  signal: AbortSignal | undefined;
  db: Db;
  ssh: SshPool;
  log: Logger;
  credentialsKey: string;
  /** The attempt's log lines and metrics (job_logs, live `log` events); absent, lines go to job.log only. */
  journal?: JobJournal;
}

/**
 * Output lines one attempt keeps (job_logs, live events, BullMQ's job log); past it one warning says so and the rest is
 * dropped: a host that prints without end cannot fill PostgreSQL or Redis. A large upgrade prints two or three thousand.
 */
export const MAX_OUTPUT_LINES_PER_ATTEMPT = 10_000;
/** BullMQ keeps this many latest entries of a job's own log (bull-board); job_logs has the whole log. */
export const BULLMQ_KEEP_LOGS = 1_000;

function secretsOf(credentials: ServerCredentials): (string | undefined)[] {
  return credentials.type === 'key' ? [credentials.privateKey, credentials.passphrase] : [credentials.password];
}

export function createJobContext<Q extends QueueAlias>(deps: JobContextDeps<Q>): JobRuntime<Q> {
  const { queue, job, db, ssh } = deps;
  const serverId = (job.data as { serverId?: unknown } | undefined)?.serverId;
  const log = deps.log.child({ jobId: job.id, queue, jobName: job.name, serverId });
  const redactor = new SecretRedactor();
  const name = job.name as JobName;
  const lifecycle = createRecordLifecycle<Q>(db, { name, payload: deps.payload, jobId: String(job.id), attempt: job.attemptsMade + 1 });
  let outputChain: Promise<void> = Promise.resolve();
  let outputLines = 0;
  // job.log trims to job.opts.keepLogs; set here, on this worker's copy, so whoever enqueued the job does not decide how much Redis its log takes.
  job.opts.keepLogs = BULLMQ_KEEP_LOGS;

  const ctx: JobContext<Q> = {
    job,
    recordId: recordIdOf(name, deps.payload, String(job.id)),
    log,
    db,
    ssh,
    signal: deps.signal,

    async progress(value, opts) {
      // The lines before this progress reach the stream before it (PostgreSQL backend; nothing to wait for on Redis).
      await deps.journal?.settled();
      await job.updateProgress(value);
      deps.journal?.progress(value);
      if (opts?.record !== false) await lifecycle.progress(value);
    },

    output(line) {
      if (outputLines >= MAX_OUTPUT_LINES_PER_ATTEMPT) {
        if (outputLines++ === MAX_OUTPUT_LINES_PER_ATTEMPT) ctx.warning(`output past ${MAX_OUTPUT_LINES_PER_ATTEMPT} lines is not kept for this attempt`);
        return outputChain;
      }
      outputLines++;
      // Redacted whole, then cut: a cut must not split a secret into parts the redactor no longer knows.
      const clean = cutLogLine(redactor.line(line));
      deps.journal?.line('output', clean);
      outputChain = outputChain
        .then(() => job.log(clean).then(() => undefined))
        .catch((err: unknown) => log.warn({ err }, 'could not append to the job log'));
      return outputChain;
    },

    warning(message) {
      const clean = cutLogLine(redactor.text(message));
      log.warn({ warning: clean }, 'job warning');
      deps.journal?.line('warning', clean);
    },

    async loadServer(id) {
      const [server] = await db.select().from(servers).where(eq(servers.id, id)).limit(1);
      if (!server) throw new UnrecoverableError(`server ${id} no longer exists`);
      let credentials: ServerCredentials;
      try {
        // Bound to the row's id, host, port and username: credentials moved under another address do not decrypt.
        credentials = decryptCredentials(server.credentials, deps.credentialsKey, { serverId: server.id, host: server.host, port: server.port, username: server.username });
      } catch (err) {
        throw new UnrecoverableError(`server ${server.name} (${id}): ${(err as Error).message}`);
      }
      for (const secret of secretsOf(credentials)) redactor.addSecret(secret);
      return {
        server,
        target: { host: server.host, port: server.port, username: server.username, credentials, hostKeyFingerprint: server.hostKeyFingerprint },
      };
    },

    async connect(server, target) {
      const session = await ssh.session(server.id, target).catch((err: unknown) => {
        if (err instanceof HostKeyMismatchError) throw new UnrecoverableError(err.message);
        throw err;
      });
      if (target.hostKeyFingerprint !== null) return session;
      // Trust on first use: pin only if nobody pinned in the meantime, then check against what won.
      const pinned = await db
        .update(servers)
        .set({ hostKeyFingerprint: session.hostKeyFingerprint, updatedAt: new Date() })
        .where(and(eq(servers.id, server.id), isNull(servers.hostKeyFingerprint)))
        .returning({ id: servers.id });
      if (pinned.length > 0) {
        log.info({ fingerprint: session.hostKeyFingerprint }, 'host key pinned on first use');
        return session;
      }
      const [row] = await db.select({ fingerprint: servers.hostKeyFingerprint }).from(servers).where(eq(servers.id, server.id)).limit(1);
      if (!row) throw new UnrecoverableError(`server ${server.id} no longer exists`);
      if (row.fingerprint !== session.hostKeyFingerprint) {
        throw new UnrecoverableError(new HostKeyMismatchError(`${target.host}:${target.port}`, row.fingerprint ?? '(none)', session.hostKeyFingerprint).message);
      }
      return session;
    },

    record: {
      start: lifecycle.start,
      update: lifecycle.update,
      // The log is durable before the record says the job is done.
      complete: async (patch) => {
        await deps.journal?.flush();
        await lifecycle.complete(patch);
      },
    },
  };
  return { ctx, redactor, lifecycle };
}
