import { setTimeout as delay } from 'node:timers/promises';
import { inArray, max, sql } from 'drizzle-orm';
import type { Logger } from '@mm/config';
import { jobLogs, type Db, type JobLogKind } from '@mm/db';
import type { QueueAlias } from '@mm/jobs';

export interface JobLogWriterOptions {
  db: Db;
  log: Logger;
  /** A buffered line waits at most this long before it is written. Default 250. */
  flushIntervalMs?: number;
  /** This many buffered lines are written at once without waiting. Default 100. */
  maxBatch?: number;
  /** Lines held while PostgreSQL is slow or away; past it new lines are dropped (and counted). Default 10_000. */
  maxBuffered?: number;
  /** Called with the number of lines lost (buffer full, or a batch that failed every retry). */
  onDropped?: (count: number, reason: 'buffer_full' | 'write_failed') => void;
}

/** One job attempt's log. */
export interface JobLogSink {
  /** Buffers a line (already redacted); never blocks, never throws. */
  append(kind: JobLogKind, line: string): void;
  /** Resolves once every line appended so far is written (or given up on and logged). Never rejects. */
  flush(): Promise<void>;
}

interface SinkState {
  jobId: string;
  queue: QueueAlias;
  /** Highest seq written for the job; undefined until read from the table (an earlier attempt's lines continue the count). */
  lastSeq: number | undefined;
}

interface Pending {
  sink: SinkState;
  kind: JobLogKind;
  line: string;
  at: Date;
}

/**
 * Longest line kept in any job log sink (job_logs, BullMQ's job log, the live `log` event and so SSE), in UTF-16 code
 * units: longer ones (a binary blob on stdout, a minified file, a hostile host) are cut. The log is for people.
 */
export const LOG_LINE_MAX_CHARS = 8_192;

/** Cuts `line` to LOG_LINE_MAX_CHARS with a marker, never between the two halves of a surrogate pair. */
export function cutLogLine(line: string): string {
  if (line.length <= LOG_LINE_MAX_CHARS) return line;
  const high = line.charCodeAt(LOG_LINE_MAX_CHARS - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? LOG_LINE_MAX_CHARS - 1 : LOG_LINE_MAX_CHARS;
  return `${line.slice(0, end)} … [line cut at ${LOG_LINE_MAX_CHARS} characters]`;
}
/** A row as jsonb_to_recordset reads it (column names). */
interface Row {
  job_id: string;
  queue: QueueAlias;
  seq: number;
  kind: JobLogKind;
  line: string;
  created_at: string;
}
const RETRY_DELAYS_MS = [100, 500, 2_000];
const UNIQUE_VIOLATION = '23505';

/** NUL, and UTF-16 halves without their other half: PostgreSQL's text and jsonb refuse both, failing the whole batch. */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters to replace
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function clip(line: string): string {
  // Cut first: the replacement then runs on at most LOG_LINE_MAX_CHARS characters, whatever a host printed.
  return cutLogLine(line).replace(UNSTORABLE, '\uFFFD');
}

/** Bounds one statement's JSON (a backlog after an outage can be 10,000 lines). */
const ROWS_PER_STATEMENT = 2_000;

/**
 * One JSON parameter for the whole batch: a multi-row VALUES with 6 parameters a row costs more to build and bind
 * than to insert (measured: 50,000 lines took 6.5 s that way, 1.6 s this way).
 */
async function insertRows(db: Pick<Db, 'execute'>, rows: Row[]): Promise<void> {
  await db.execute(
    sql`insert into ${jobLogs} (job_id, queue, seq, kind, line, created_at)
        select job_id, queue, seq, kind, line, created_at
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          as r(job_id text, queue text, seq integer, kind text, line text, created_at timestamptz)`,
  );
}

function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Writes job log lines to PostgreSQL (job_logs) in batches, for every job of one worker process: a line waits at
 * most `flushIntervalMs`, or `maxBatch` lines go at once, in one INSERT across jobs. Batches are written one after
 * the other, so each job's lines keep their order. A failed batch is retried, then dropped with an error log:
 * a job never fails because its log could not be written.
 */
export class JobLogWriter {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;
  private readonly onDropped: JobLogWriterOptions['onDropped'];
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private droppedSinceWarning = 0;

  constructor(opts: JobLogWriterOptions) {
    this.db = opts.db;
    this.log = opts.log;
    this.flushIntervalMs = opts.flushIntervalMs ?? 250;
    this.maxBatch = opts.maxBatch ?? 100;
    this.maxBuffered = opts.maxBuffered ?? 10_000;
    this.onDropped = opts.onDropped;
  }

  /**
   * A sink for one attempt of a job; its seq continues after whatever the job's earlier attempts wrote. `fresh`
   * (a first attempt, never stalled) skips reading that: it has none, and should a stale run have written some
   * after all, the insert's unique violation makes the writer read them and renumber.
   */
  forJob(jobId: string, queue: QueueAlias, fresh = false): JobLogSink {
    const sink: SinkState = { jobId, queue, lastSeq: fresh ? 0 : undefined };
    return {
      append: (kind, line) => this.append(sink, kind, line),
      flush: () => this.flush(),
    };
  }

  /** Writes everything buffered. Never rejects. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // A write not started yet takes every line buffered when it starts: later callers join it, so while PostgreSQL is
    // busy the lines gather into one big batch instead of a queue of small ones.
    if (this.queued) return this.queued;
    if (this.pending.length === 0) return this.chain;
    const run = this.chain.then(() => {
      this.queued = undefined;
      const batch = this.pending;
      this.pending = [];
      return batch.length > 0 ? this.write(batch) : undefined;
    });
    this.queued = run;
    this.chain = run;
    return run;
  }

  private append(sink: SinkState, kind: JobLogKind, line: string): void {
    if (this.pending.length >= this.maxBuffered) {
      this.dropped(1, 'buffer_full');
      return;
    }
    this.pending.push({ sink, kind, line: clip(line), at: new Date() });
    if (this.pending.length >= this.maxBatch) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
      // Buffered lines must not keep a finished process alive; close() flushes them.
      this.timer.unref();
    }
  }

  private dropped(count: number, reason: 'buffer_full' | 'write_failed'): void {
    this.onDropped?.(count, reason);
    if (reason === 'buffer_full') {
      // One warning per burst, not one per line.
      if (this.droppedSinceWarning++ === 0) this.log.warn({ maxBuffered: this.maxBuffered }, 'job log buffer full (PostgreSQL slow or away); dropping lines');
    }
  }

  /** Reads where each job's log stands (its earlier attempts' lines), for sinks that have not written yet. */
  private async seed(batch: Pending[]): Promise<void> {
    const unseeded = [...new Set(batch.filter((p) => p.sink.lastSeq === undefined).map((p) => p.sink))];
    if (unseeded.length === 0) return;
    const rows = await this.db
      .select({ jobId: jobLogs.jobId, last: max(jobLogs.seq) })
      .from(jobLogs)
      .where(inArray(jobLogs.jobId, [...new Set(unseeded.map((s) => s.jobId))]))
      .groupBy(jobLogs.jobId);
    const last = new Map(rows.map((r) => [r.jobId, r.last ?? 0]));
    for (const sink of unseeded) sink.lastSeq = last.get(sink.jobId) ?? 0;
  }

  private async write(batch: Pending[]): Promise<void> {
    this.droppedSinceWarning = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.seed(batch);
        // Seqs are committed to the sinks only once the insert succeeded, so a retry numbers the same lines again.
        const next = new Map<SinkState, number>();
        const rows: Row[] = batch.map((p) => {
          const seq = (next.get(p.sink) ?? (p.sink.lastSeq as number)) + 1;
          next.set(p.sink, seq);
          return { job_id: p.sink.jobId, queue: p.sink.queue, seq, kind: p.kind, line: p.line, created_at: p.at.toISOString() };
        });
        if (rows.length <= ROWS_PER_STATEMENT) {
          await insertRows(this.db, rows);
        } else {
          // All or nothing, so a retry never writes a chunk twice.
          await this.db.transaction(async (tx) => {
            for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) await insertRows(tx, rows.slice(i, i + ROWS_PER_STATEMENT));
          });
        }
        for (const [sink, seq] of next) sink.lastSeq = seq;
        return;
      } catch (err) {
        // Lines of the same job written elsewhere (a stalled attempt taken over): renumber from the table, at once.
        const collided = pgCode(err) === UNIQUE_VIOLATION;
        if (collided) for (const p of batch) p.sink.lastSeq = undefined;
        const wait = collided && attempt < RETRY_DELAYS_MS.length ? 0 : RETRY_DELAYS_MS[attempt];
        if (wait === undefined) {
          this.log.error({ err, lines: batch.length, jobIds: [...new Set(batch.map((p) => p.sink.jobId))] }, 'could not write job log lines; dropped');
          this.dropped(batch.length, 'write_failed');
          return;
        }
        if (!collided) this.log.warn({ err: { message: (err as Error).message, code: pgCode(err) }, attempt: attempt + 1 }, 'job log write failed; retrying');
        if (wait > 0) await delay(wait);
      }
    }
  }
}
