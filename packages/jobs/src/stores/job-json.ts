import { Job, type JobJson } from 'bullmq';

/**
 * A stored job as BullMQ's public JobJson, the shape `Job.fromJSON` takes, for reads that fetch the job themselves
 * (QueueInspector.read). BullMQ 6 decodes inside each backend with functions it does not export (`rawToJobJson` in
 * dist/esm/classes/redis-queue-backend.js, `rowToJobJson` in dist/esm/postgres/postgres-queue-backend.js); these
 * follow them field for field, and packages/jobs/test/queue-inspector-read.test.ts compares the result with
 * `queue.getJob` on both backends, so a BullMQ upgrade that changes either decoder fails there.
 */

/** A Redis job hash (HGETALL) as BullMQ's rawToJobJson decodes it: short field names, numbers as strings. */
export function redisHashToJobJson(raw: Record<string, string>): JobJson {
  return {
    id: raw.id as string,
    name: raw.name as string,
    data: raw.data || '{}',
    opts: Job.optsFromJSON(raw.opts),
    progress: JSON.parse(raw.progress || '0') as JobJson['progress'],
    // parseInt of a missing field is NaN, as in BullMQ: Job.fromJSON copies it as it is.
    delay: parseInt(raw.delay as string),
    priority: parseInt(raw.priority as string),
    timestamp: parseInt(raw.timestamp as string),
    attemptsStarted: parseInt(raw.ats || '0'),
    attemptsMade: parseInt(raw.attemptsMade || raw.atm || '0'),
    stalledCounter: parseInt(raw.stc || '0'),
    finishedOn: raw.finishedOn ? parseInt(raw.finishedOn) : undefined,
    processedOn: raw.processedOn ? parseInt(raw.processedOn) : undefined,
    repeatJobKey: raw.rjk,
    debounceId: raw.deid,
    deduplicationId: raw.deid,
    failedReason: raw.failedReason as string,
    deferredFailure: raw.defa,
    stacktrace: raw.stacktrace,
    returnvalue: raw.returnvalue as string,
    parentKey: raw.parentKey,
    parent: raw.parent ? (JSON.parse(raw.parent) as JobJson['parent']) : undefined,
    processedBy: raw.pb,
  };
}

/** A row of BullMQ's PostgreSQL `job` table, with node-postgres' default parsers (bigint as string, jsonb parsed). */
export interface PostgresJobRow {
  id: string;
  name: string;
  state: string;
  data: unknown;
  opts: JobJson['opts'] | null;
  priority: number | null;
  delay_ms: string | number | null;
  attempts_made: number | null;
  attempts_started: number | null;
  progress: JobJson['progress'] | null;
  return_value: unknown;
  failed_reason: string | null;
  stacktrace: unknown;
  deferred_failure: string | null;
  processed_by: string | null;
  added_at_ms: string | number;
  processed_at_ms: string | number | null;
  finished_at_ms: string | number | null;
  stalled_count: number | null;
  dedup_id: string | null;
  scheduler_id: string | null;
  parent_queue: string | null;
  parent_id: string | null;
  parent_key: string | null;
}

const numberOrUndefined = (value: string | number | null | undefined): number | undefined => (value === null || value === undefined ? undefined : Number(value));

/** A `job` row as BullMQ's rowToJobJson maps it; like it, fields left undefined are dropped (the Redis shape). */
export function postgresRowToJobJson(row: PostgresJobRow): JobJson {
  // JobJson types failedReason as always present; BullMQ leaves it out when the row has none, as here.
  const json: { [K in keyof JobJson]: JobJson[K] | undefined } = {
    id: row.id,
    name: row.name,
    data: JSON.stringify(row.data ?? {}),
    opts: row.opts ?? {},
    progress: row.progress ?? 0,
    attemptsMade: row.attempts_made ?? 0,
    attemptsStarted: row.attempts_started ?? 0,
    finishedOn: numberOrUndefined(row.finished_at_ms),
    processedOn: numberOrUndefined(row.processed_at_ms),
    timestamp: Number(row.added_at_ms),
    delay: numberOrUndefined(row.delay_ms),
    priority: row.priority ?? undefined,
    failedReason: row.failed_reason ?? undefined,
    stacktrace: JSON.stringify(row.stacktrace ?? []),
    returnvalue: JSON.stringify(row.return_value ?? null),
    parent: row.parent_id !== null && row.parent_id !== undefined ? { id: row.parent_id, queueKey: row.parent_queue ?? '' } : undefined,
    parentKey: row.parent_key ?? undefined,
    repeatJobKey: row.scheduler_id ?? undefined,
    deduplicationId: row.dedup_id ?? undefined,
    deferredFailure: row.deferred_failure ?? undefined,
    processedBy: row.processed_by ?? undefined,
    stalledCounter: row.stalled_count ?? 0,
  };
  for (const key of Object.keys(json) as (keyof JobJson)[]) if (json[key] === undefined) delete json[key];
  return json as JobJson;
}
