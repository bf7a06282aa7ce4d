import type { QueueEventsListener } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { createNamedQueueEvents, eventsQueueName, type EventsQueue, type QueueBackend } from '@mm/jobs';
import { compareStreamIds, liveEventNames, toJobEvent, type JobEvent } from './job-event.js';

/** Which events one client wants: one job, or every job of some queues, optionally of one server. */
export interface EventFilter {
  queues: EventsQueue[];
  jobId?: string;
  serverId?: string;
}

/** Per queue, the last stream entry id a client has seen (its resume point). */
export type Cursor = Partial<Record<EventsQueue, string>>;

export interface Subscription {
  /** The client's position in every watched stream, after the last event delivered. */
  readonly cursor: Readonly<Cursor>;
  close(): void;
}

type Deliver = (event: JobEvent, cursor: Readonly<Cursor>) => void;

interface Subscriber {
  filter: EventFilter;
  deliver: Deliver;
  cursor: Cursor;
  /** Live events that arrived while the subscriber was still replaying its backlog. */
  backlog: JobEvent[] | null;
  closed: boolean;
}

interface Source {
  /** Ends the feed: QueueEvents' blocking reads (Redis) or the watch and poll timer (PostgreSQL). */
  stop(): Promise<void>;
  /** Dispatches in stream order, one event after the other (catch-up and server lookups are async). */
  chain: Promise<void>;
  /** Last id dispatched, or the stream's end when the source started: everything after it reaches subscribers. */
  last: string;
  synced: boolean;
}

type LogListener = QueueEventsListener & { log: (args: { jobId: string; line: string }, id: string) => void };

const REPLAY_PAGE = 500;
/** PostgreSQL: a pull this often even without a notification (coalesced NOTIFYs, rows not yet settled). */
const PULL_EVERY_MS = 500;
const SERVER_CACHE_MAX = 10_000;

/**
 * One QueueEvents per queue for the whole API process, fanned out in memory to every SSE client, so
 * 1,000 idle clients cost 3 queue connections, not 1,000 (a 4th once a fleet run is watched: its orchestrator
 * job on the fleet queue publishes the run's progress, features/fleet). Resume works on the queue's events stream
 * itself: its entry ids are the SSE ids, and a returning client's backlog is read through the backend's
 * inspector (XRANGE on Redis, BullMQ's `event` table on PostgreSQL) on the shared connection, then joined
 * to the live feed without loss or repeats (ids only grow).
 */
export class EventHub {
  private readonly sources = new Map<EventsQueue, Promise<Source>>();
  private readonly byJob = new Map<string, Set<Subscriber>>();
  private readonly broad = new Set<Subscriber>();
  private readonly serverOfJob = new Map<string, string | null>();
  private closing = false;

  constructor(
    private readonly backend: QueueBackend,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** The id of the newest entry of a queue's stream ('0-0' while it is empty). */
  streamEnd(queue: EventsQueue): Promise<string> {
    return this.backend.inspector.eventsEnd(queue);
  }

  /** Number of QueueEvents subscriptions this process holds (one per queue at most). */
  get sourceCount(): number {
    return this.sources.size;
  }

  /** Number of connected clients. */
  get subscriberCount(): number {
    let n = this.broad.size;
    for (const set of this.byJob.values()) n += set.size;
    return n;
  }

  /**
   * Registers a client, replays what it missed after `from` (or nothing: it starts now), and returns once
   * it is live. `deliver` is called synchronously, in stream order per queue, with the cursor after the event.
   */
  async subscribe(filter: EventFilter, from: Cursor | undefined, deliver: Deliver): Promise<Subscription> {
    if (this.closing) throw new Error('the event hub is closing');
    await Promise.all(filter.queues.map((q) => this.source(q)));
    const sub: Subscriber = { filter, deliver, cursor: {}, backlog: [], closed: false };
    this.add(sub);
    const subscription: Subscription = { cursor: sub.cursor, close: () => this.remove(sub) };
    try {
      for (const queue of filter.queues) {
        sub.cursor[queue] = from?.[queue] ?? (await this.streamEnd(queue));
        await this.replay(sub, queue);
      }
    } catch (err) {
      this.remove(sub);
      throw err;
    }
    const backlog = sub.backlog ?? [];
    sub.backlog = null;
    for (const event of backlog) this.offer(sub, event);
    return subscription;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.broad.clear();
    this.byJob.clear();
    const sources = await Promise.allSettled(this.sources.values());
    await Promise.allSettled(
      sources.map(async (s) => {
        if (s.status === 'fulfilled') await s.value.stop();
      }),
    );
  }

  /** The server a job belongs to, from its data (cached; null once the job is gone and was never seen). */
  async serverOf(queue: EventsQueue, jobId: string): Promise<string | null> {
    const known = this.serverOfJob.get(jobId);
    if (known !== undefined) return known;
    const found = await this.backend.inspector.serverOf(queue, jobId);
    const serverId = found ?? null;
    // Only a job still held is cached: a missing one may be an id seen before its job was added.
    if (found !== undefined) {
      if (this.serverOfJob.size >= SERVER_CACHE_MAX) this.serverOfJob.clear();
      this.serverOfJob.set(jobId, serverId);
    }
    return serverId;
  }

  private add(sub: Subscriber): void {
    if (!sub.filter.jobId) {
      this.broad.add(sub);
      return;
    }
    const set = this.byJob.get(sub.filter.jobId) ?? new Set<Subscriber>();
    set.add(sub);
    this.byJob.set(sub.filter.jobId, set);
  }

  private remove(sub: Subscriber): void {
    sub.closed = true;
    if (!sub.filter.jobId) {
      this.broad.delete(sub);
      return;
    }
    const set = this.byJob.get(sub.filter.jobId);
    set?.delete(sub);
    if (set?.size === 0) this.byJob.delete(sub.filter.jobId);
  }

  private async replay(sub: Subscriber, queue: EventsQueue): Promise<void> {
    for (;;) {
      const entries = await this.backend.inspector.events(queue, sub.cursor[queue] ?? '0-0', REPLAY_PAGE);
      for (const { id, fields } of entries) {
        sub.cursor[queue] = id;
        const event = toJobEvent(queue, id, fields);
        if (!event || !(await this.matches(sub.filter, event))) continue;
        if (sub.closed) return;
        sub.deliver(event, sub.cursor);
      }
      if (entries.length < REPLAY_PAGE) return;
    }
  }

  private async matches(filter: EventFilter, event: JobEvent): Promise<boolean> {
    if (!filter.queues.includes(event.queue)) return false;
    if (filter.jobId) return event.jobId === filter.jobId;
    if (!filter.serverId) return true;
    event.serverId ??= await this.serverOf(event.queue, event.jobId);
    return event.serverId === filter.serverId;
  }

  /** A live event for one subscriber: buffered while it replays, dropped if its replay already covered it. */
  private offer(sub: Subscriber, event: JobEvent): void {
    if (sub.closed) return;
    if (!sub.filter.queues.includes(event.queue)) return;
    if (sub.backlog) {
      sub.backlog.push(event);
      return;
    }
    const seen = sub.cursor[event.queue];
    if (seen && compareStreamIds(event.id, seen) <= 0) return;
    sub.cursor[event.queue] = event.id;
    if (sub.filter.jobId && sub.filter.jobId !== event.jobId) return;
    if (sub.filter.serverId && event.serverId !== sub.filter.serverId) return;
    sub.deliver(event, sub.cursor);
  }

  private source(queue: EventsQueue): Promise<Source> {
    let source = this.sources.get(queue);
    if (!source) {
      source = this.start(queue);
      this.sources.set(queue, source);
      source.catch(() => this.sources.delete(queue));
    }
    return source;
  }

  private async start(queue: EventsQueue): Promise<Source> {
    // Where the source begins: QueueEvents reads from '$' once its loop runs, so entries added between
    // now and then are fetched on its first event (catch-up) rather than lost.
    const end = await this.streamEnd(queue);
    const pulled = this.startPulling(queue, end);
    if (pulled) return pulled;
    const events = createNamedQueueEvents(eventsQueueName(queue), this.backend.queueConfig);
    const source: Source = { stop: () => events.close(), chain: Promise.resolve(), last: end, synced: false };
    let lastErrorLog = 0;
    events.on('error', (err: Error) => {
      if (Date.now() - lastErrorLog < 10_000) return;
      lastErrorLog = Date.now();
      this.log.warn({ queue, err: { message: err.message } }, 'queue events error');
    });
    for (const name of liveEventNames) {
      events.on<LogListener>(name, ((args: Record<string, unknown>, id: string) => {
        const event = toJobEvent(queue, streamId(id), { ...args, event: name, jobId: args.jobId }, true);
        if (event) this.enqueue(queue, source, event);
      }) as LogListener[typeof name]);
    }
    await events.waitUntilReady();
    return source;
  }

  /**
   * PostgreSQL (the inspector can watch): the stream is read with the inspector itself, woken by BullMQ's NOTIFY and a
   * timer, instead of BullMQ's QueueEvents, which pages by `id > cursor` and can step over an event committing late
   * (ids come from a sequence, commits land in any order). The inspector returns settled rows only, in id order.
   */
  private startPulling(queue: EventsQueue, end: string): Source | null {
    let pulling = false;
    let again = false;
    const source: Source = { stop: async () => {}, chain: Promise.resolve(), last: end, synced: true };
    const pull = () => {
      if (pulling) {
        again = true;
        return;
      }
      pulling = true;
      source.chain = source.chain
        .then(async () => {
          do {
            again = false;
            for (;;) {
              const entries = await this.backend.inspector.events(queue, source.last, REPLAY_PAGE);
              for (const { id, fields } of entries) {
                const event = toJobEvent(queue, id, fields);
                if (event) await this.dispatch(source, event);
                else source.last = id;
              }
              if (entries.length < REPLAY_PAGE) break;
            }
          } while (again);
        })
        .catch((err: unknown) => {
          if (Date.now() - lastErrorLog < 10_000) return;
          lastErrorLog = Date.now();
          this.log.warn({ queue, err }, 'queue events read failed');
        })
        .finally(() => {
          pulling = false;
          if (again) pull();
        });
    };
    let lastErrorLog = 0;
    const watcher = this.backend.inspector.watch(queue, pull);
    if (!watcher) return null;
    const timer = setInterval(pull, PULL_EVERY_MS);
    timer.unref();
    source.stop = async () => {
      clearInterval(timer);
      await watcher.close();
      await source.chain;
    };
    return source;
  }

  private enqueue(queue: EventsQueue, source: Source, event: JobEvent): void {
    source.chain = source.chain
      .then(async () => {
        if (!source.synced) {
          source.synced = true;
          await this.catchUp(queue, source, event.id);
        }
        await this.dispatch(source, event);
      })
      .catch((err: unknown) => this.log.warn({ queue, err }, 'event dispatch failed'));
  }

  /** Entries between where the source began and its first live event. */
  private async catchUp(queue: EventsQueue, source: Source, firstLive: string): Promise<void> {
    for (;;) {
      const entries = await this.backend.inspector.events(queue, source.last, REPLAY_PAGE, firstLive);
      for (const { id, fields } of entries) {
        const event = toJobEvent(queue, id, fields);
        if (event) await this.dispatch(source, event);
        else source.last = id;
      }
      if (entries.length < REPLAY_PAGE) return;
    }
  }

  private async dispatch(source: Source, event: JobEvent): Promise<void> {
    if (compareStreamIds(event.id, source.last) <= 0) return;
    source.last = event.id;
    const forJob = this.byJob.get(event.jobId);
    if (this.broad.size > 0) {
      const wantsServer = [...this.broad].some((s) => s.filter.serverId);
      if (wantsServer) event.serverId = await this.serverOf(event.queue, event.jobId).catch(() => null);
      for (const sub of [...this.broad]) this.offer(sub, event);
    }
    if (forJob) for (const sub of [...forJob]) this.offer(sub, event);
  }
}

/** QueueEvents on PostgreSQL hands out BullMQ's event ids (`123`); the API's ids keep Redis' shape (`123-0`). */
function streamId(id: string): string {
  return id.includes('-') ? id : `${id}-0`;
}
