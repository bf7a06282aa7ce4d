import type { QueueEvents } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { createNamedQueueEvents, FLEET_QUEUE, type AnyQueueConfig } from '@mm/jobs';

type Listener = (event: 'progress' | 'finished', data: unknown) => void;

/**
 * The orchestrator publishes a run's summary as its job's progress (fleet-queue's events stream); one QueueEvents for
 * the whole API process, opened on the first subscriber, fans it out by run id to every SSE client of that run.
 */
export class FleetRunEvents {
  private events: QueueEvents | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly queueConfig: AnyQueueConfig,
    private readonly log: FastifyBaseLogger,
  ) {}

  async subscribe(runId: string, listener: Listener): Promise<() => void> {
    await this.open();
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  private async open(): Promise<void> {
    if (this.events) return;
    // QueueEvents opens (and on close ends) one blocking connection of its own, on either backend.
    const events = createNamedQueueEvents(FLEET_QUEUE, this.queueConfig);
    this.events = events;
    events.on('error', (err) => this.log.warn({ err: { message: err.message } }, 'fleet run events error'));
    events.on('progress', ({ jobId, data }) => this.emit(jobId, 'progress', data));
    events.on('completed', ({ jobId, returnvalue }) => this.emit(jobId, 'finished', returnvalue));
    await events.waitUntilReady();
  }

  private emit(runId: string, event: 'progress' | 'finished', data: unknown): void {
    for (const listener of this.listeners.get(runId) ?? []) listener(event, data);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.events?.close();
  }
}
