import { UnrecoverableError, type Job, type Processor } from 'bullmq';
import { catalog, isJobName, jobNamesOf, type JobName, type JobNameOf, type PayloadOf, type QueueAlias } from './catalog.js';
import { InvalidPayloadError, validatePayload } from './payload-validation.js';

/** A handler is a plain function of the validated payload and a context the worker runtime builds. */
export type Handler<N extends JobName, Ctx> = (payload: PayloadOf<N>, ctx: Ctx) => Promise<unknown>;

/** Exactly one handler per job name of queue Q: the compiler rejects a missing or an extra one. */
export type Handlers<Q extends QueueAlias, Ctx> = { [N in JobNameOf<Q>]: Handler<N, Ctx> };

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
 * Builds the BullMQ processor for one queue. The payload is validated again here: a job whose data
 * does not match its schema fails at once with UnrecoverableError, without retries.
 */
export function createProcessor<Q extends QueueAlias, Ctx>(
  queue: Q,
  handlers: Handlers<Q, Ctx>,
  context: (job: Job, signal: AbortSignal | undefined) => Ctx,
): Processor {
  assertHandlers(queue, handlers);
  return async (job, _token, signal) => {
    if (!isJobName(job.name) || catalog[job.name].queue !== queue) {
      throw new UnrecoverableError(`unknown job name "${job.name}" on the ${queue} queue`);
    }
    let payload: PayloadOf<JobName>;
    try {
      payload = validatePayload(job.name, job.data);
    } catch (err) {
      if (err instanceof InvalidPayloadError) throw new UnrecoverableError(err.message);
      throw err;
    }
    const handler = handlers[job.name as JobNameOf<Q>] as Handler<JobName, Ctx>;
    return handler(payload, context(job, signal));
  };
}
