import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { queueAliases, type QueueAlias } from '@mm/jobs';
import { ApiError, conflict, notFound } from '../../shared/errors.js';
import { hasRole } from '../../shared/roles.js';
import { reopenFailedRecord } from '@mm/records';
import { backupServerId } from './repository.js';
import { roleToRetry } from './retry-role.js';
import { findJob, findJobWithState, jobState, jobStates, toJobView, type JobState } from '../../shared/job-view.js';
import { listJobs } from './job-listing.js';
import { withQueue } from '../../shared/queue-guard.js';
import { errors, JobIdParams, ok, okList } from '../../shared/schemas.js';
import { JobStats, JobView, ListJobsQuery } from './schemas.js';


const splitList = <T extends string>(value: string | undefined, all: readonly T[]): T[] =>
  value ? [...new Set(value.split(',') as T[])] : [...all];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const requireJob = async (id: string) => {
    const found = await findJob(app.producer, id, app.queueBackend);
    if (!found) throw notFound(`Job ${id}`);
    return found;
  };

  app.get(
    '/api/jobs/stats/all',
    {
      schema: { tags: ['jobs'], summary: 'Job counts per queue and state, with totals', response: { 200: ok(JobStats), ...errors(401, 429, 503) } },
    },
    async () => {
      const stats = await withQueue(app.queueBackend, async () => {
        const per = await Promise.all(
          queueAliases.map(async (q) => [q, await app.producer.queue(q).getJobCounts(...jobStates.map((s) => (s === 'waiting' ? 'wait' : s)))] as const),
        );
        const totals: Record<string, number> = {};
        const queues: Record<string, Record<string, number>> = {};
        for (const [q, counts] of per) {
          // BullMQ keys the waiting list as `wait`; report the state name GET /api/jobs/:id uses.
          const named = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k === 'wait' ? 'waiting' : k, v]));
          queues[q] = named;
          for (const [k, v] of Object.entries(named)) totals[k] = (totals[k] ?? 0) + v;
        }
        totals.total = Object.values(totals).reduce((a, b) => a + b, 0);
        return { queues, totals };
      });
      return { success: true as const, data: stats };
    },
  );

  app.get(
    '/api/jobs/:id',
    {
      schema: { tags: ['jobs'], summary: 'One job from any queue, with its BullMQ state', params: JobIdParams, response: { 200: ok(JobView), ...errors(400, 401, 404, 429, 503) } },
    },
    async (request) => {
      const view = await withQueue(app.queueBackend, async () => {
        const found = await findJobWithState(app.producer, request.params.id, app.queueBackend);
        if (!found) throw notFound(`Job ${request.params.id}`);
        return toJobView(found.job, found.queue, found.state);
      });
      return { success: true as const, data: view };
    },
  );

  app.get(
    '/api/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Jobs newest first across queues, filtered by queue, state and server',
        querystring: ListJobsQuery,
        response: { 200: okList(JobView), ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const { limit, offset, serverId } = request.query;
      const result = await withQueue(app.queueBackend, () =>
        listJobs(app.producer, app.queueBackend.inspector, app.serverJobs, {
          queues: splitList<QueueAlias>(request.query.queue, queueAliases),
          states: splitList<JobState>(request.query.state, jobStates),
          limit,
          offset,
          ...(serverId ? { serverId } : {}),
        }),
      );
      return { success: true as const, data: result.jobs, meta: { limit, offset, ...(result.total !== undefined ? { total: result.total } : {}) } };
    },
  );

  app.delete(
    '/api/jobs/:id',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Remove a job that is not running (409 for an active job)',
        params: JobIdParams,
        response: { 200: ok(Type.Object({ id: Type.String(), removed: Type.Literal(true) })), ...errors(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      await withQueue(app.queueBackend, async () => {
        const { job, queue } = await requireJob(id);
        const state = await jobState(job);
        if (state === 'active') throw conflict(`Job ${id} is active; it can be removed once it has finished.`);
        // BullMQ keeps a job scheduler's next run (it refuses to remove it): the schedule owns it.
        if (job.repeatJobKey && state !== 'completed' && state !== 'failed') {
          throw conflict(`Job ${id} is the next run of a schedule; disable or delete the schedule to stop it.`);
        }
        try {
          await job.remove();
        } catch (err) {
          // BullMQ refuses to remove a job a worker has locked: it became active after we looked.
          request.log.info({ jobId: id, err: { message: (err as Error).message } }, 'job removal refused');
          throw conflict(`Job ${id} is active; it can be removed once it has finished.`);
        }
        const serverId = (job.data as { serverId?: unknown }).serverId;
        if (typeof serverId === 'string') await app.serverJobs.remove(serverId, queue, id);
      });
      request.log.info({ jobId: id }, 'job removed');
      return { success: true as const, data: { id, removed: true as const } };
    },
  );

  app.post(
    '/api/jobs/:id/retry',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Retry a failed job, reopening its failed record (409 unless both are failed; a cancelled job is not retried); the role its trigger route required: admin for the cleanup and for restores onto another server or over /',
        params: JobIdParams,
        response: { 200: ok(JobView), ...errors(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const view = await withQueue(app.queueBackend, async () => {
        const { job, queue } = await requireJob(id);
        // A retry re-runs the same payload: it needs the role that starting it needed (retry-role.ts).
        const needed = await roleToRetry(job.name, job.data, (backupId) => backupServerId(app.db, backupId));
        if (!hasRole(request.user.role, needed.role)) throw new ApiError('FORBIDDEN', needed.reason ?? `Retrying this job needs the ${needed.role} role.`);
        const state = await jobState(job);
        if (state !== 'failed') throw conflict(`Job ${id} is ${state}; only a failed job can be retried.`);
        // A retry is a new attempt of the same operation: its failed record reopens with it (the one exception to
        // "records only move forward", kept in @mm/records); a cancelled record stays cancelled and refuses the retry.
        const found = await reopenFailedRecord(app.db, job, async () => {
          try {
            await job.retry('failed');
          } catch (err) {
            request.log.info({ jobId: id, err: { message: (err as Error).message } }, 'job retry refused');
            throw conflict(`Job ${id} is no longer failed; only a failed job can be retried.`);
          }
        });
        if (found.outcome === 'refused') {
          throw conflict(
            found.status === 'cancelled'
              ? `Job ${id} was cancelled; a cancelled job is not retried: start the operation again.`
              : `Job ${id}'s record is ${found.status}; only a job whose record failed can be retried.`,
          );
        }
        const fresh = await app.producer.queue(queue).getJob(id);
        if (!fresh) throw notFound(`Job ${id}`);
        return toJobView(fresh, queue, await jobState(fresh));
      });
      request.log.info({ jobId: id }, 'job retried');
      return { success: true as const, data: view };
    },
  );
};

export default routes;
