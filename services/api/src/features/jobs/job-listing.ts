import type { Job, JobType } from 'bullmq';
import type { Producer, QueueAlias, QueueInspector, ServerJobIndex } from '@mm/jobs';
import { toJobView, type JobState, type JobView } from '../../shared/job-view.js';

export interface ListQuery {
  queues: QueueAlias[];
  states: JobState[];
  serverId?: string;
  limit: number;
  offset: number;
}

export interface ListResult {
  jobs: JobView[];
  total?: number;
}

interface Candidate {
  queue: QueueAlias;
  state: JobState;
  id: string;
  at: number;
}

// BullMQ names the waiting list `wait` in its keys.
const keyState = (state: JobState): JobType => (state === 'waiting' ? 'wait' : state);

/**
 * Newest first across queues and states, without reading every job: each (queue, state) set is read
 * newest first, only its first offset+limit ids, and the sets are merged by creation time. The first n
 * merged jobs depend only on the first n ids of each set, so pages are consistent, and the cost grows
 * with offset+limit, not with the number of jobs held. Within a set BullMQ's order holds (finish time
 * for completed and failed), so the merge is by creation time wherever the sets allow it.
 */
export async function listJobs(producer: Producer, inspector: QueueInspector, index: ServerJobIndex, query: ListQuery): Promise<ListResult> {
  if (query.serverId) return listServerJobs(producer, index, { ...query, serverId: query.serverId });
  const want = query.offset + query.limit;
  const sources = query.queues.flatMap((queue) => query.states.map((state) => ({ queue, state })));
  const lists = await Promise.all(
    sources.map(async ({ queue, state }) => {
      const q = producer.queue(queue);
      const ids = await q.getRanges([keyState(state)], 0, want - 1, false);
      if (ids.length === 0) return [];
      const stamps = await inspector.timestamps(queue, ids);
      return ids.map((id, i): Candidate => ({ queue, state, id, at: stamps[i] ?? 0 }));
    }),
  );
  const merged = mergeNewestFirst(lists, want).slice(query.offset);
  const [jobs, total] = await Promise.all([loadJobs(producer, merged), countJobs(producer, query.queues, query.states)]);
  return { jobs, total };
}

/** k-way merge by (createdAt, id) descending, taking at most `want`. */
function mergeNewestFirst(lists: Candidate[][], want: number): Candidate[] {
  const heads = lists.map(() => 0);
  const out: Candidate[] = [];
  const seen = new Set<string>();
  while (out.length < want) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const c = lists[i]?.[heads[i] as number];
      if (!c) continue;
      const b = best >= 0 ? lists[best]?.[heads[best] as number] : undefined;
      if (!b || c.at > b.at || (c.at === b.at && c.id > b.id)) best = i;
    }
    if (best < 0) break;
    const pick = lists[best]?.[heads[best] as number] as Candidate;
    heads[best] = (heads[best] as number) + 1;
    // A job moving between sets while we read can show up twice: keep its first sighting.
    const key = `${pick.queue}:${pick.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(pick);
  }
  return out;
}

async function loadJobs(producer: Producer, candidates: Candidate[]): Promise<JobView[]> {
  const jobs = await Promise.all(candidates.map(async (c) => ({ c, job: await producer.queue(c.queue).getJob(c.id) })));
  return jobs.filter((j): j is { c: Candidate; job: Job } => Boolean(j.job)).map(({ c, job }) => toJobView(job, c.queue, c.state));
}

async function countJobs(producer: Producer, queues: QueueAlias[], states: JobState[]): Promise<number> {
  const counts = await Promise.all(queues.map((queue) => producer.queue(queue).getJobCounts(...states.map(keyState))));
  return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
}

const SCAN_CHUNK = 100;

/**
 * One server's jobs from the per-server index, newest first, keeping those in the wanted queues and
 * states. The cost grows with that server's recent jobs (bounded by retention), never with all jobs.
 */
async function listServerJobs(producer: Producer, index: ServerJobIndex, query: ListQuery & { serverId: string }): Promise<ListResult> {
  const want = query.offset + query.limit;
  const matches: Candidate[] = [];
  let start = 0;
  while (matches.length < want) {
    const entries = await index.page(query.serverId, start, SCAN_CHUNK);
    let removed = 0;
    const relevant = entries.filter((e) => query.queues.includes(e.queue));
    const states = await Promise.all(relevant.map((e) => producer.queue(e.queue).getJobState(e.jobId)));
    for (const [i, e] of relevant.entries()) {
      const state = states[i] as JobState | 'unknown';
      if (state === 'unknown') {
        await index.remove(query.serverId, e.queue, e.jobId);
        removed += 1;
        continue;
      }
      if (query.states.includes(state)) matches.push({ queue: e.queue, state, id: e.jobId, at: e.at });
    }
    if (entries.length < SCAN_CHUNK) break;
    // Removed entries shift the rest of the set down.
    start += entries.length - removed;
  }
  return { jobs: await loadJobs(producer, matches.slice(query.offset, want)) };
}
