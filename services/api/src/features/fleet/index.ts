import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BackupOptions, UpdateOptions, createFleetQueue, FLEET_QUEUE, FLEET_RUN_JOB, fleetRunJobOptions, type QueueAlias } from '@mm/jobs';
import type { FleetAction } from '@mm/db';
import { checkPublicUrl, parseAllowedHosts, UrlRefused, type PublicUrlPolicy } from '@mm/outbound-http';
import type { ApiEnv } from '../../env.js';
import { ApiError, conflict, notFound, unavailable } from '../../shared/errors.js';
import { createJobCanceller } from '../jobs/job-cancel.js';
import { jobState } from '../../shared/job-view.js';
import { queueDownMessage, withQueue } from '../../shared/queue-guard.js';
import type { Subscription } from '../../plugins/event-hub.js';
import { withWindowsUnchanged } from '../../shared/window-guard.js';
import { hasRole } from '../../shared/roles.js';
import { errors, IdParams, ok, okList, ServerIdParams } from '../../shared/schemas.js';
import { NowQuery } from '../maintenance-windows/schemas.js';
import { abortRun, deleteRun, findRun, findRunSummary, insertRun, listRuns, resolveSelector, selectServers, setLabels, transitionRun } from './repository.js';
import { planWaves, RolloutPlanError, waveOfEach } from './rollout-plan.js';
import { fleetSummary } from './summary.js';
import { FLEET_TABLE_MAX, fleetTable } from './fleet-table.js';
import {
  AbortQuery,
  CreatedFleetRun,
  CreateFleetRunBody,
  FleetRunDetail,
  FleetRunSummary,
  FleetSummary,
  FleetTableRow,
  LabelsBody,
  ListFleetRunsQuery,
  ScanRunOptions,
  SelectBody,
  SelectedServer,
  type CreateFleetRunBody as CreateBody,
} from './schemas.js';

/** The most servers one run takes (its server list is stored and answered whole). */
export const FLEET_RUN_MAX_SERVERS = 10_000;

const optionSchemas = { backup: BackupOptions, scan: ScanRunOptions, update: UpdateOptions } as const;
const queueOf: Record<FleetAction, QueueAlias> = { backup: 'backup', scan: 'scan', update: 'update' };

const invalid = (path: string, message: string) => new ApiError('VALIDATION_ERROR', `${path.slice(1)}: ${message}`, [{ path, message }]);

/** The action's options with their defaults, checked against the same schema its single-server route uses. */
function optionsOf(body: CreateBody): Record<string, unknown> {
  const schema = optionSchemas[body.action];
  const options = Value.Default(schema, structuredClone(body.options ?? {})) as Record<string, unknown>;
  const first = [...Value.Errors(schema, options)][0];
  if (first) throw invalid(`/options${first.path}`, `${first.message} (for action ${body.action})`);
  return options;
}

const Paused = Type.Object({ id: Type.String(), state: Type.String() });

/**
 * Fleet operations: select servers by ids, name globs, tags, labels and OS; act on a selection with one fleet run
 * (the fleet worker's orchestrator enqueues one ordinary job per server, in waves, never more than `concurrency` at once).
 */
const fleet: FastifyPluginAsyncTypebox<{ env: ApiEnv }> = async (app, opts) => {
  const gateUrlPolicy: PublicUrlPolicy = {
    allowPrivate: opts.env.GATE_HTTP_ALLOW_PRIVATE,
    allowedHosts: parseAllowedHosts(opts.env.GATE_HTTP_ALLOWED_HOSTS),
    subject: 'rollout gate URLs',
    allowSetting: 'GATE_HTTP_ALLOWED_HOSTS',
  };
  const fleetQueue = createFleetQueue(app.queueBackend.queueConfig);
  const canceller = createJobCanceller({
    db: app.db,
    backend: app.queueBackend,
    onRelayError: (err) => app.log.warn({ err: { message: err.message } }, 'cancel relay error'),
  });
  app.addHook('onClose', async () => {
    await Promise.allSettled([canceller.close(), fleetQueue.close()]);
  });

  app.get(
    '/api/fleet/summary',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: "The fleet's health at a glance: last-seen status, overdue backups, pending updates, reboots, critical findings, fleet runs",
        response: { 200: ok(FleetSummary), ...errors(401, 403, 429, 503) },
      },
    },
    async () => ({ success: true as const, data: await fleetSummary(app.db) }),
  );

  app.get(
    '/api/fleet/servers',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: `The fleet table (the dashboard's): every server's status, last backup, last scan, pending updates and tags, by name, up to ${FLEET_TABLE_MAX} a page`,
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: FLEET_TABLE_MAX, default: FLEET_TABLE_MAX }),
            offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: okList(FleetTableRow), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const { rows, total } = await fleetTable(app.db, { limit, offset });
      return { success: true as const, data: rows, meta: { limit, offset, total } };
    },
  );

  app.post(
    '/api/servers/select',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: 'Preview which servers a selector matches (paged, by name)',
        body: SelectBody,
        response: { 200: okList(SelectedServer), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { selector, limit = 100, offset = 0 } = request.body;
      const { rows, total } = await selectServers(app.db, selector, { limit, offset });
      return { success: true as const, data: rows, meta: { limit, offset, total } };
    },
  );

  app.put(
    '/api/servers/:serverId/labels',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['fleet'],
        summary: "Replace a server's labels (free-form key: value pairs for selectors); moving a server into or out of a maintenance window is admin-only",
        params: ServerIdParams,
        body: LabelsBody,
        response: { 200: ok(SelectedServer), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      // Labels are what maintenance windows select by: an operator may not move a server out of its windows.
      const row = await withWindowsUnchanged(app.db, request.params.serverId, request.user.role, (tx) => setLabels(tx, request.params.serverId, request.body.labels));
      if (!row) throw notFound(`Server ${request.params.serverId}`);
      return { success: true as const, data: row };
    },
  );

  app.post(
    '/api/fleet-runs',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['fleet'],
        summary: "Start a fleet run: one backup, scan or update job per selected server, in waves, at most `concurrency` at once; an update starts each server inside its maintenance windows (?now=true, admin: at once)",
        querystring: NowQuery,
        body: CreateFleetRunBody,
        response: { 202: ok(CreatedFleetRun), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const ignoreWindows = request.query.now === true;
      if (ignoreWindows && !hasRole(request.user.role, 'admin')) throw new ApiError('FORBIDDEN', 'A fleet run past the maintenance windows (?now=true) needs the admin role.');
      const options = optionsOf(body);
      const gate = body.rollout?.gate;
      // A gate command runs anything on every server of the run: what only an admin may do (docs/SECURITY.md).
      if (gate?.command !== undefined && !hasRole(request.user.role, 'admin')) throw new ApiError('FORBIDDEN', 'A rollout gate command (rollout.gate.command) needs the admin role.');
      if (gate?.httpUrl !== undefined) {
        try {
          await checkPublicUrl(gate.httpUrl, gateUrlPolicy);
        } catch (err) {
          if (err instanceof UrlRefused) throw invalid('/rollout/gate/httpUrl', err.message);
          throw err;
        }
      }
      const matched = await resolveSelector(app.db, body.selector, FLEET_RUN_MAX_SERVERS);
      if (matched.length === 0) throw invalid('/selector', 'matches no server; nothing was started');
      if (matched.length > FLEET_RUN_MAX_SERVERS) throw invalid('/selector', `matches more than ${FLEET_RUN_MAX_SERVERS} servers; narrow it or start several runs`);
      const rollout = body.rollout ? { maxFailPercentage: 0, pauseBetweenWavesS: 0, ...body.rollout } : null;
      let sizes: number[];
      try {
        sizes = rollout ? planWaves(matched.length, rollout.waves) : [matched.length];
      } catch (err) {
        if (err instanceof RolloutPlanError) throw invalid(err.path, err.message);
        throw err;
      }
      const waves = waveOfEach(sizes);
      const runId = randomUUID();
      const servers = matched.map((s, i) => ({ id: s.id, name: s.name, wave: waves[i] ?? 0, jobId: randomUUID() }));
      await insertRun(app.db, {
        id: runId,
        action: body.action,
        options,
        selector: body.selector,
        concurrency: body.concurrency ?? 10,
        rollout,
        waveCount: sizes.length,
        ignoreWindows,
        requestedBy: request.user.id,
        servers,
      });
      try {
        await withQueue(app.queueBackend, () => fleetQueue.add(FLEET_RUN_JOB, { runId }, fleetRunJobOptions(runId)));
      } catch (err) {
        // Nothing half-made stays behind: without its orchestrator job the run would never move.
        await deleteRun(app.db, runId);
        throw err instanceof ApiError ? err : unavailable('The queue is unavailable; the fleet run was not started.');
      }
      request.logSummary = { msg: 'fleet run started', fields: { runId, action: body.action, servers: servers.length, waves: sizes.length } };
      return reply.code(202).send({ success: true as const, data: { runId, servers: servers.map((s) => ({ ...s, wave: s.wave + 1 })) } });
    },
  );

  app.get(
    '/api/fleet-runs',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: 'Fleet runs, newest first, with their counts per server state',
        querystring: ListFleetRunsQuery,
        response: { 200: okList(FleetRunSummary), ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { state, limit, offset } = request.query;
      const { rows, total } = await listRuns(app.db, { ...(state ? { state } : {}), limit, offset });
      return { success: true as const, data: rows, meta: { limit, offset, total } };
    },
  );

  app.get(
    '/api/fleet-runs/:id',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: 'A fleet run: state and reason, and per wave every server with its job id, state, attempts and error',
        params: IdParams,
        response: { 200: ok(FleetRunDetail), ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const run = await findRun(app.db, request.params.id);
      if (!run) throw notFound(`Fleet run ${request.params.id}`);
      return { success: true as const, data: run };
    },
  );

  for (const [verb, from, to] of [
    ['pause', 'running', 'paused'],
    ['resume', 'paused', 'running'],
  ] as const) {
    app.post(
      `/api/fleet-runs/:id/${verb}`,
      {
        config: { auth: 'operator' },
        schema: {
          tags: ['fleet'],
          summary: verb === 'pause' ? 'Pause a run: no new server starts; jobs already queued or running carry on' : 'Resume a paused run',
          params: IdParams,
          response: { 200: ok(Paused), ...errors(400, 401, 403, 404, 409, 429, 503) },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (!(await transitionRun(app.db, id, [from], to))) {
          const run = await findRunSummary(app.db, id);
          if (!run) throw notFound(`Fleet run ${id}`);
          throw conflict(`Fleet run ${id} is ${run.state}; only a ${from} run can be ${verb}d.`);
        }
        request.log.info({ runId: id, state: to }, `fleet run ${verb}d`);
        return { success: true as const, data: { id, state: to } };
      },
    );
  }

  app.post(
    '/api/fleet-runs/:id/abort',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['fleet'],
        summary: 'Abort a run: servers not started are skipped, queued jobs cancelled; ?cancelRunning=true also stops running ones',
        params: IdParams,
        querystring: AbortQuery,
        response: {
          200: ok(Type.Object({ id: Type.String(), state: Type.Literal('aborted'), cancelled: Type.Integer(), cancelling: Type.Integer(), leftRunning: Type.Integer() })),
          ...errors(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { cancelRunning } = request.query;
      const run = await findRunSummary(app.db, id);
      if (!run) throw notFound(`Fleet run ${id}`);
      const { aborted, inFlight } = await abortRun(app.db, id, `aborted by user ${request.user.id}`);
      if (!aborted) throw conflict(`Fleet run ${id} is ${run.state}; only a running or paused run can be aborted.`);
      let cancelled = 0;
      let cancelling = 0;
      let leftRunning = 0;
      await withQueue(app.queueBackend, async () => {
        for (const item of inFlight) {
          const queue = item.gate ? 'scan' : queueOf[run.action as FleetAction];
          const job = await app.producer.queue(queue).getJob(item.jobId);
          if (!job) continue;
          const state = await jobState(job);
          if (state === 'completed' || state === 'failed' || state === 'unknown') continue;
          if (state === 'active' && !cancelRunning) {
            leftRunning += 1;
            continue;
          }
          try {
            const outcome = await canceller.cancel(job, `fleet run ${id} aborted by user ${request.user.id}`);
            if (outcome === 'cancelled') {
              cancelled += 1;
              await app.serverJobs.remove(item.serverId, queue, item.jobId);
            } else cancelling += 1;
          } catch (err) {
            // It finished between the look and the cancel: nothing left to stop.
            if (!(err instanceof ApiError && err.code === 'CONFLICT')) throw err;
          }
        }
      }, 30_000);
      request.log.info({ runId: id, cancelled, cancelling, leftRunning }, 'fleet run aborted');
      return { success: true as const, data: { id, state: 'aborted' as const, cancelled, cancelling, leftRunning } };
    },
  );

  app.get(
    '/api/fleet-runs/:id/events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: "Server-Sent Events of a run: `run` with its summary now and at every change, `end` when it is over",
        params: IdParams,
        response: { ...errors(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const first = await findRunSummary(app.db, id);
      if (!first) throw notFound(`Fleet run ${id}`);
      // Within the stream caps, bounded for slow readers, ended with its token (plugins/events.ts).
      const stream = app.openSse(request, reply);
      const finish = async () => {
        const last = await findRunSummary(app.db, id).catch(() => null);
        if (last) stream.send('run', last);
        stream.send('end', { runId: id, state: last?.state ?? null });
        stream.end();
      };
      // The orchestrator publishes the run's summary as its job's progress, on the fleet queue's events stream, read
      // by the process-wide event hub as the job streams are (in order on both backends). Subscribed before the
      // snapshot is read, so a change between the two is not lost (at worst sent twice).
      let subscription: Subscription;
      try {
        subscription = await app.events.subscribe({ queues: [FLEET_QUEUE], jobId: id }, undefined, (event) => {
          // 'failed' is the orchestrator's final failure (a retry is 'delayed' or 'waiting'): the run is over either way.
          if (event.event === 'completed' || event.event === 'failed') void finish();
          else if (event.event === 'progress') void findRunSummary(app.db, id).then((s) => s && stream.send('run', s), () => undefined);
        });
      } catch (err) {
        request.log.warn({ err, runId: id }, 'fleet run event subscription failed');
        stream.fail(queueDownMessage(app.queueBackend, 'reconnect shortly'));
        return;
      }
      stream.onClose(() => subscription.close());
      const now = await findRunSummary(app.db, id);
      if (now) stream.send('run', now);
      const orchestrator = await fleetQueue.getJob(id);
      if (now && ['completed', 'failed', 'aborted'].includes(now.state) && (!orchestrator || ['completed', 'failed'].includes(await orchestrator.getState()))) await finish();
    },
  );
};

export default fleet;
