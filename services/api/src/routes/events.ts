import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { queueAliases, type QueueAlias } from '@mm/jobs';
import { notFound } from '../errors.js';
import { findJob, jobState } from '../domain/job-view.js';
import { isFinalEvent, type JobEvent } from '../domain/job-event.js';
import { formatCursor, parseCursor } from '../domain/event-cursor.js';
import { findRecordStatus } from '../domain/record-status.js';
import { SseStream } from '../domain/sse-stream.js';
import type { Subscription } from '../domain/event-hub.js';
import { withRedis } from '../domain/redis-guard.js';
import { errors, JobIdParams } from '../schemas/common.js';
import { EventsHeaders, EventsQuery, JobEventsHeaders, JobEventsQuery } from '../schemas/events.js';

const body = (e: JobEvent) => ({ jobId: e.jobId, queue: e.queue, ...(e.serverId ? { serverId: e.serverId } : {}), ...e.data });

const SSE_DESCRIPTION =
  'Server-Sent Events (text/event-stream). Events: state, waiting, delayed, active, progress, log, completed, failed, removed, cancelled. ' +
  'Each carries an id; reconnecting with Last-Event-ID resumes after it. See docs/API.md.';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  /** Starts the SSE response and ties the stream's end to its subscription. */
  const openStream = (request: FastifyRequest, reply: FastifyReply) => {
    const stream = new SseStream(request, reply);
    app.sseStreams.add(stream);
    stream.onClose(() => app.sseStreams.delete(stream));
    return stream;
  };

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
      const { id } = request.params;
      const resumeFrom = request.headers['last-event-id'];
      const found = await withRedis(app.redis, () => findJob(app.producer, id, app.redis));
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
      let subscription: Subscription;
      try {
        subscription = await app.events.subscribe({ queues: [queue], jobId: id }, resumeFrom ? { [queue]: resumeFrom } : undefined, (event, cursor) => {
          if (isFinalEvent(event.event)) finish(event.event, body(event), cursor[queue]);
          else stream.send(event.event, body(event), cursor[queue]);
        });
      } catch (err) {
        request.log.warn({ err, jobId: id }, 'event subscription failed');
        finish('error', { message: 'The job queue (Redis) is unavailable; reconnect shortly.' }, undefined);
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
      } catch (err) {
        request.log.warn({ err, jobId: id }, 'job state read failed');
        finish('error', { message: 'The job queue (Redis) is unavailable; reconnect shortly.' }, undefined);
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
      if (app.redis.status !== 'ready') await withRedis(app.redis, async () => undefined);
      const stream = openStream(request, reply);
      let subscription: Subscription;
      try {
        subscription = await app.events.subscribe({ queues, ...(serverId ? { serverId } : {}) }, resumeHeader ? parseCursor(resumeHeader) : undefined, (event, cursor) =>
          stream.send(event.event, body(event), formatCursor(cursor, queues)),
        );
      } catch (err) {
        request.log.warn({ err }, 'event subscription failed');
        stream.send('error', { message: 'The job queue (Redis) is unavailable; reconnect shortly.' });
        stream.end();
        return reply;
      }
      stream.onClose(() => subscription.close());
      stream.send('ready', { queues, serverId: serverId ?? null }, formatCursor(subscription.cursor, queues));
      return reply;
    },
  );
};

export default routes;
