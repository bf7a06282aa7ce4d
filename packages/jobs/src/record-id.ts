import { createHash } from 'node:crypto';
import { catalog, type JobName } from './catalog.js';

/** RFC 4122 namespace for record ids derived from BullMQ job ids (a fixed random UUID; never change it). */
const JOB_ID_NAMESPACE = Buffer.from('6f1d6c52a0e44b1f9d8e3c2b7a5e4f10', 'hex');

/** A name-based (version 5, SHA-1) UUID: the same job id always gives the same record id. */
function uuidV5(name: string): string {
  const bytes = createHash('sha1').update(JOB_ID_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The id of the record a job writes: the payload's id field when the catalog names one, otherwise the job id itself
 * when it is a UUID (the producer's), otherwise (a job scheduler's `repeat:…` id) a UUID derived from it, so a retried
 * or re-run scheduled job always lands on the same record.
 */
export function recordIdOf(name: JobName, data: unknown, jobId: string): string {
  const field = catalog[name].idField;
  if (field !== null) return String((data as Record<string, unknown>)[field]);
  return recordIdOfJobId(jobId);
}

/** The record id of a job known only by its id (e.g. gone from Redis): every job's record id is its id or derived from it. */
export function recordIdOfJobId(jobId: string): string {
  return UUID.test(jobId) ? jobId.toLowerCase() : uuidV5(jobId);
}
