import { UnrecoverableError, type Job, type Processor } from 'bullmq';
import { catalog, isJobName, jobNamesOf, type JobName, type JobNameOf, type PayloadOf, type QueueAlias, type ResultOf } from './catalog.js';
import { InvalidPayloadError, validatePayload } from './payload-validation.js';

/** A handler is a plain function of the validated payload and a context the worker runtime builds. */
export type Handler<N extends JobName, Ctx> = (payload: PayloadOf<N>, ctx: Ctx) => Promise<ResultOf<N>>;

/** Exactly one handler per job name of queue Q: the compiler rejects a missing or an extra one. */
export type Handlers<Q extends QueueAlias, Ctx> = { [N in JobNameOf<Q>]: Handler<N, Ctx> };

/** A job of queue Q as it enters the worker: its catalog name and its payload, validated once (schema defaults applied). */
export interface ReadJob<Q extends QueueAlias> {
  name: JobNameOf<Q>;
  payload: PayloadOf<JobNameOf<Q>>;
}

/** Fails loudly at start-up when the handler map does not match the catalog (e.g. built from untyped code). */
export function assertHandlers(queue: QueueAlias, handlers: object): void {
  const expected = jobNamesOf(queue).sort();
  const given = Object.keys(handlers).sort();
  const missing = expected.filter((n) => !given.includes(n));
  const extra = given.filter((n) => !expected.includes(n as JobName));
  if (missing.length || extra.length) {
    throw new Error(`handlers for the ${queue} queue do not match the catalog: missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`);
  }
}

/**
 * The border into a worker: a job of another queue or with data that does not match its schema fails at once with
 * UnrecoverableError (the same data fails the same way, so it is never retried).
 */
export function readJob<Q extends QueueAlias>(queue: Q, job: Pick<Job, 'name' | 'data'>): ReadJob<Q> {
  if (!isJobName(job.name) || catalog[job.name].queue !== queue) {
    throw new UnrecoverableError(`unknown job name "${job.name}" on the ${queue} queue`);
  }
  try {
    return { name: job.name as JobNameOf<Q>, payload: validatePayload(job.name, job.data) as PayloadOf<JobNameOf<Q>> };
  } catch (err) {
    if (err instanceof InvalidPayloadError) throw new UnrecoverableError(err.message);
    throw err;
  }
}

/** Runs the handler of a job already read, with its context. */
export function runHandler<Q extends QueueAlias, Ctx>(handlers: Handlers<Q, Ctx>, read: ReadJob<Q>, ctx: Ctx): Promise<unknown> {
  const handler = handlers[read.name] as unknown as (payload: unknown, ctx: Ctx) => Promise<unknown>;
  return handler(read.payload, ctx);
}

/** A bare BullMQ processor for one queue (readJob, then the handler); the worker runtime composes its own from the same parts. */
export function createProcessor<Q extends QueueAlias, Ctx>(
  queue: Q,
  handlers: Handlers<Q, Ctx>,
  context: (job: Job, read: ReadJob<Q>, signal: AbortSignal | undefined) => Ctx,
): Processor {
  assertHandlers(queue, handlers);
  return async (job, _token, signal) => {
    const read = readJob(queue, job);
    return runHandler(handlers, read, context(job, read, signal));
  };
}
