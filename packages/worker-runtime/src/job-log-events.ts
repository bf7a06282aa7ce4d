import type { QueueEventsProducer } from 'bullmq';
import type { Logger } from '@mm/config';
import type { JobLogKind } from '@mm/db';
import { QUEUE_EVENTS_MAX_LEN } from '@mm/jobs';
import { cutLogLine } from './job-log-writer.js';

export interface JobLogEventsOptions {
  producer: QueueEventsProducer;
  log: Logger;
  /** Output lines per second and job sent live (a burst of as many is allowed); the rest are only in PostgreSQL. Default 20. */
  outputLinesPerSecond?: number;
  /** False while Redis is away: live lines are skipped rather than queued in memory (PostgreSQL has them). */
  connected: () => boolean;
  /** Called with the number of output lines left out of the live stream. */
  onSkipped?: (count: number) => void;
  /**
   * Each publish of a job waits for its previous one. Needed on PostgreSQL: the producer's pool runs concurrent
   * publishes on several connections, so call order (and event id order) would not hold. On Redis one connection
   * keeps the order by itself.
   */
  ordered?: boolean;
}

/** Publishes one job attempt's lines live. */
export interface JobLogEventSink {
  publish(kind: JobLogKind, line: string): void;
  /** Says how many output lines were left out, if any; called once the attempt is over. */
  end(): void;
  /** Resolves once the lines published so far are on the stream (ordered mode; at once otherwise). Never rejects. */
  settled(): Promise<void>;
}

/**
 * Publishes job log lines as `log` events on the queue's events stream (BullMQ's QueueEventsProducer), where the
 * API's SSE routes pick them up in order with progress (docs/API.md, "Worker contract for `log`"). Milestones and
 * warnings always go; output lines through a per-job token bucket, because the stream is capped and shared: a
 * `tar -v` of 100,000 files would push everyone's resume window out. Every line is in job_logs regardless.
 * Publishing is fire and forget on the worker's own connection: commands go out in call order, so lines keep their
 * order with each other and with progress, and the job never waits on it.
 */
export class JobLogEvents {
  private readonly producer: QueueEventsProducer;
  private readonly log: Logger;
  private readonly rate: number;
  private readonly connected: () => boolean;
  private readonly onSkipped: JobLogEventsOptions['onSkipped'];
  private readonly ordered: boolean;
  private lastErrorLog = 0;

  constructor(opts: JobLogEventsOptions) {
    this.producer = opts.producer;
    this.log = opts.log;
    this.rate = opts.outputLinesPerSecond ?? 20;
    this.connected = opts.connected;
    this.onSkipped = opts.onSkipped;
    this.ordered = opts.ordered ?? false;
    // It shares the worker's connection, whose own handler reports Redis outages: nothing more to say here.
    this.producer.on('error', (err: Error) => this.log.debug({ err }, 'live log publisher error'));
  }

  forJob(jobId: string): JobLogEventSink {
    let tokens = this.rate;
    let refilledAt = Date.now();
    let skipped = 0;
    let skippedTotal = 0;
    let tail: Promise<void> = Promise.resolve();
    const note = (count: number) => `… ${count} output line${count === 1 ? '' : 's'} not streamed live; GET /api/jobs/${jobId}/logs has every line`;
    const send = (kind: JobLogKind, line: string) => {
      if (!this.connected()) return;
      // Cut here too: the events stream is shared by every job and read by every SSE client.
      const publish = () =>
        this.producer.publishEvent({ eventName: 'log', jobId, line: cutLogLine(line), kind }, QUEUE_EVENTS_MAX_LEN).then(
          () => undefined,
          (err: unknown) => {
            if (Date.now() - this.lastErrorLog < 10_000) return;
            this.lastErrorLog = Date.now();
            this.log.warn({ err: { message: (err as Error).message }, jobId }, 'could not publish a live log line');
          },
        );
      if (this.ordered) tail = tail.then(publish);
      else void publish();
    };
    const flushSkipped = () => {
      if (skipped === 0) return;
      send('warning', note(skipped));
      skipped = 0;
    };
    return {
      publish: (kind, line) => {
        if (kind !== 'output') {
          flushSkipped();
          send(kind, line);
          return;
        }
        const now = Date.now();
        tokens = Math.min(this.rate, tokens + ((now - refilledAt) / 1_000) * this.rate);
        refilledAt = now;
        if (tokens < 1) {
          skipped++;
          skippedTotal++;
          this.onSkipped?.(1);
          return;
        }
        tokens -= 1;
        flushSkipped();
        send(kind, line);
      },
      end: () => {
        flushSkipped();
        if (skippedTotal > 0) this.log.debug({ jobId, skipped: skippedTotal }, 'output lines left out of the live stream');
      },
      settled: () => tail,
    };
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
