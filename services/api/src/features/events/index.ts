import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { queueAliases, type QueueAlias } from '@mm/jobs';
import { notFound } from '../../shared/errors.js';
import { findJob, jobState } from '../../shared/job-view.js';
import { isFinalEvent, type JobEvent } from '../../plugins/job-event.js';
import { formatCursor, parseCursor } from './event-cursor.js';
import { findRecordStatus } from '@mm/records';
import type { Subscription } from '../../plugins/event-hub.js';
import { queueDownMessage, withQueue } from '../../shared/queue-guard.js';
import { errors, JobIdParams } from '../../shared/schemas.js';
import { EventsHeaders, EventsQuery, JobEventsHeaders, JobEventsQuery } from './schemas.js';

const body = (e: JobEvent) => ({ jobId: e.jobId, queue: e.queue, ...(e.serverId ? { serverId: e.serverId } : {}), ...e.data });

const SSE_DESCRIPTION =
  'Server-Sent Events (text/event-stream). Events: state, waiting, delayed, active, progress, log, completed, failed, removed, cancelled. ' +
  'Each carries an id; reconnecting with Last-Event-ID resumes after it. See docs/API.md.';

const events: FastifyPluginAsyncTypebox = async (app) => {
  /** Starts the SSE response within the stream caps (plugins/events.ts). */
  const openStream = (request: FastifyRequest, reply: FastifyReply) => app.openSse(request, reply);

  app.get(
    '/api/jobs/:id/events',
    {
      config: { queryToken: true, sse: true },
      schema: {
        tags: ['events'],
        summary: "A job's live events, ending after its final one; a finished job is answered at once with its final state",
        description: SSE_DESCRIPTION,
        params: JobIdParams,
        querystring: JobEventsQuery,
        headers: JobEventsHeaders,
        produces: ['text/event-stream'],
        response: errors(400, 401, 404, 429, 503),
      },
    },
    async (request, reply) => {
      // Past the stream caps the answer is 429 before anything is looked up.
      app.admitSse(request);
      const { id } = request.params;
      const resumeFrom = request.headers['last-event-id'];
      const found = await withQueue(app.queueBackend, () => findJob(app.producer, id, app.queueBackend));
      if (!found) {
        // Removed from Redis (retention, or deleted): the record in PostgreSQL still knows how it ended.
        const record = await findRecordStatus(app.db, id);
        if (!record) throw notFound(`Job ${id}`);
        const stream = openStream(request, reply);
        const data = { jobId: id, queue: record.queue, state: record.status, progress: record.progress };
        if (record.status === 'completed') stream.send('completed', { ...data, result: record.result });
        else if (record.status === 'failed') stream.send('failed', { ...data, failedReason: record.error });
        else if (record.status === 'cancelled') stream.send('cancelled', data);
        else stream.send('removed', data);
        stream.end();
        return reply;
      }

      const { queue } = found;
      const stream = openStream(request, reply);
      const finish = (event: string, data: unknown, eventId: string | undefined) => {
        stream.send(event, data, eventId);
        stream.end();
      };
      const deliver = (event: JobEvent, at: string | undefined) => {
        if (stream.closed) return;
        if (isFinalEvent(event.event)) finish(event.event, body(event), at);
        else stream.send(event.event, body(event), at);
      };
      // A new stream's first event is `state`: events arriving before it is out wait (on PostgreSQL a stream starts at
      // the last settled event, so it can replay the job's last moments during the subscription).
      let held: { event: JobEvent; at: string | undefined }[] | null = resumeFrom ? null : [];
      let subscription: Subscription;
      try {
        subscription = await app.events.subscribe({ queues: [queue], jobId: id }, resumeFrom ? { [queue]: resumeFrom } : undefined, (event, cursor) => {
          if (held) held.push({ event, at: cursor[queue] });
          else deliver(event, cursor[queue]);
        });
      } catch (err) {
        request.log.warn({ err, jobId: id }, 'event subscription failed');
        finish('error', { message: queueDownMessage(app.queueBackend, 'reconnect shortly') }, undefined);
        return reply;
      }
      stream.onClose(() => subscription.close());
      if (stream.closed) return reply;

      // Read the state only now that the subscription is live: a job that ends from here on is seen by one or the other.
      try {
        const job = await app.producer.queue(queue).getJob(id);
        const state = job ? await jobState(job) : 'unknown';
        const at = subscription.cursor[queue];
        const data = { jobId: id, queue, state, progress: typeof job?.progress === 'number' ? job.progress : 0 };
        if (!resumeFrom) stream.send('state', data, at);
        if (state === 'completed') finish('completed', { ...data, result: job?.returnvalue ?? null }, at);
        else if (state === 'failed') finish('failed', { ...data, failedReason: job?.failedReason ?? null }, at);
        else if (state === 'unknown') finish('removed', data, at);
        const waiting = held ?? [];
        held = null;
        for (const { event, at: eventAt } of waiting) deliver(event, eventAt);
      } catch (err) {
        request.log.warn({ err, jobId: id }, 'job state read failed');
        finish('error', { message: queueDownMessage(app.queueBackend, 'reconnect shortly') }, undefined);
      }
      return reply;
    },
  );

  app.get(
    '/api/events',
    {
      config: { queryToken: true, sse: true },
      schema: {
        tags: ['events'],
        summary: 'Live events of many jobs (all queues, or some), optionally of one server: for dashboards',
        description: SSE_DESCRIPTION,
        querystring: EventsQuery,
        headers: EventsHeaders,
        produces: ['text/event-stream'],
        response: errors(400, 401, 429, 503),
      },
    },
    async (request, reply) => {
      const queues = request.query.queue ? [...new Set(request.query.queue.split(',') as QueueAlias[])] : [...queueAliases];
      const { serverId } = request.query;
      const resumeHeader = request.headers['last-event-id'];
      if (!app.queueBackend.isReady()) await withQueue(app.queueBackend, async () => undefined);
      const stream = openStream(request, reply);
      let subscription: Subscription;
      try {
        subscription = await app.events.subscribe({ queues, ...(serverId ? { serverId } : {}) }, resumeHeader ? parseCursor(resumeHeader) : undefined, (event, cursor) =>
          stream.send(event.event, body(event), formatCursor(cursor, queues)),
        );
      } catch (err) {
        request.log.warn({ err }, 'event subscription failed');
        stream.send('error', { message: queueDownMessage(app.queueBackend, 'reconnect shortly') });
        stream.end();
        return reply;
      }
      stream.onClose(() => subscription.close());
      stream.send('ready', { queues, serverId: serverId ?? null }, formatCursor(subscription.cursor, queues));
      return reply;
    },
  );
};

export default events;
