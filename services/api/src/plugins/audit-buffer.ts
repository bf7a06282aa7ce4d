import type { FastifyBaseLogger } from 'fastify';

export interface AuditBufferOptions {
  intervalMs: number;
  batchSize: number;
  /** Entries kept while writes fail; beyond it the oldest go. */
  maxEntries: number;
  log: FastifyBaseLogger;
}

/**
 * Audit entries wait in memory and are written in batches (one multi-row INSERT each), so no request waits on an
 * audit write. Trade-off: entries buffered when the process dies are lost, and during a long PostgreSQL outage the
 * oldest beyond `maxEntries` are dropped, with the count logged; a request is never failed or slowed for its audit.
 */
export class AuditBuffer<T> {
  private entries: T[] = [];
  private dropped = 0;
  private failing = false;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly opts: AuditBufferOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.opts.intervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.entries.length;
  }

  push(entry: T): void {
    this.entries.push(entry);
    this.trim();
    if (this.entries.length >= this.opts.batchSize && !this.flushing) void this.flush();
  }

  /** Writes everything buffered now; never rejects (a failed write keeps the entries for the next try). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.entries.length === 0 && this.dropped === 0) return;
    this.flushing = this.writeAll().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /** Stops the timer and makes one last write. Safe to call twice. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    if (this.entries.length > 0) this.opts.log.error({ lost: this.entries.length }, 'audit entries could not be written before shutdown');
  }

  private trim(): void {
    const over = this.entries.length - this.opts.maxEntries;
    if (over <= 0) return;
    this.entries.splice(0, over);
    this.dropped += over;
  }

  private async writeAll(): Promise<void> {
    if (this.dropped > 0) {
      this.opts.log.warn({ dropped: this.dropped, max: this.opts.maxEntries }, 'audit buffer full while PostgreSQL was unavailable: oldest entries dropped');
      this.dropped = 0;
    }
    while (this.entries.length > 0) {
      // Taken out before the write, so entries dropped or pushed meanwhile cannot shift what a success removes.
      const batch = this.entries.splice(0, this.opts.batchSize);
      try {
        await this.write(batch);
      } catch (err) {
        this.entries.unshift(...batch);
        this.trim();
        if (!this.failing) this.opts.log.error({ err, buffered: this.entries.length }, 'audit write failed; keeping entries and retrying');
        this.failing = true;
        return;
      }
      if (this.failing) this.opts.log.info({ buffered: this.entries.length }, 'audit writes resumed');
      this.failing = false;
    }
  }
}
