import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupSchedules } from '@mm/db';
import { BACKUP_SCHEDULER_PREFIX, CLEANUP_SCHEDULER_ID, backupSchedulerId, listBackupSchedulers } from '@mm/jobs';
import { buildApp } from '../src/app.js';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';

let t: TestApp;
let serverId: string;

// A 2 s minimum, so seconds-field crons are allowed down to it; the production default is 60 s.
beforeAll(async () => {
  t = await createTestApp({ SCHEDULE_MIN_INTERVAL_S: '2', CLEANUP_CRON: '0 4 * * *', CLEANUP_TIMEZONE: 'Europe/Berlin' });
  serverId = await createServer(t);
});
afterAll(async () => t?.close());

const options = { backup_type: 'full', compression: true, encryption: false };
const base = () => `/api/servers/${serverId}/backup-schedules`;
const queue = () => t.app.producer.queue('backup');
const schedulers = () => listBackupSchedulers(queue());
const rowCount = async () => (await t.database.db.select().from(backupSchedules)).length;

async function create(body: Record<string, unknown>, role: 'operator' | 'admin' = 'operator') {
  const res = await t.call(role, { method: 'POST', url: base(), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data as { id: string; nextRuns: string[]; timezone: string; enabled: boolean; options: typeof options };
}

describe('backup schedules', () => {
  it('creates a schedule with its next 5 runs, in its time zone, and a matching job scheduler', async () => {
    const s = await create({ cron: '30 9 * * 1-5', timezone: 'Europe/Berlin', options });
    expect(s.timezone).toBe('Europe/Berlin');
    expect(s.enabled).toBe(true);
    expect(s.nextRuns).toHaveLength(5);
    const times = s.nextRuns.map((r) => new Date(r));
    for (let i = 1; i < times.length; i++) expect(times[i]!.getTime()).toBeGreaterThan(times[i - 1]!.getTime());
    for (const d of times) {
      const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' }).format(d);
      expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:30$/);
    }
    const inRedis = (await schedulers()).get(s.id);
    expect(inRedis).toMatchObject({ pattern: '30 9 * * 1-5', tz: 'Europe/Berlin', next: times[0]!.getTime() });
    const scheduler = await queue().getJobScheduler(backupSchedulerId(s.id));
    expect(scheduler?.name).toBe('backup:scheduled');
    expect(scheduler?.template?.data).toEqual({ serverId, scheduleId: s.id, options });

    const list = await t.call('viewer', { method: 'GET', url: base() });
    expect(list.statusCode).toBe(200);
    expect(list.json().data.map((x: { id: string }) => x.id)).toContain(s.id);
    const one = await t.call('viewer', { method: 'GET', url: `${base()}/${s.id}` });
    expect(one.json().data.nextRuns).toEqual(s.nextRuns);
  });

  it('disabling removes the job scheduler, enabling brings it back, deleting removes both', async () => {
    const s = await create({ cron: '0 2 * * *', options: { ...options, backup_type: 'incremental' } });
    expect(s.timezone).toBe('UTC');
    expect((await schedulers()).has(s.id)).toBe(true);

    const off = await t.call('operator', { method: 'PATCH', url: `${base()}/${s.id}`, payload: { enabled: false } });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json().data).toMatchObject({ enabled: false, nextRuns: [] });
    expect((await schedulers()).has(s.id)).toBe(false);
    // The scheduler's pending next run went with it.
    expect(await t.redis.redis.keys(`${t.redis.prefix}:backup-queue:repeat:${backupSchedulerId(s.id)}:*`)).toEqual([]);

    const on = await t.call('operator', { method: 'PATCH', url: `${base()}/${s.id}`, payload: { enabled: true, cron: '15 3 * * *' } });
    expect(on.statusCode, on.body).toBe(200);
    expect((await schedulers()).get(s.id)?.pattern).toBe('15 3 * * *');

    const del = await t.call('operator', { method: 'DELETE', url: `${base()}/${s.id}` });
    expect(del.statusCode).toBe(200);
    expect((await schedulers()).has(s.id)).toBe(false);
    expect((await t.call('viewer', { method: 'GET', url: `${base()}/${s.id}` })).statusCode).toBe(404);
  });

  it.each([
    ['an invalid cron', { cron: '61 * * * *', options }, /Invalid cron expression/],
    ['a cron with too many fields', { cron: '* * * * * * *', options }, /Invalid cron expression/],
    ['an unknown time zone', { cron: '0 2 * * *', timezone: 'Mars/Olympus', options }, /not an IANA time zone/],
    ['a schedule more frequent than the minimum', { cron: '*/1 * * * * *', options }, /runs every 1 s; the minimum interval is 2 s/],
    ['an unknown field', { cron: '0 2 * * *', options, retention: 3 }, null],
    ['an unknown option', { cron: '0 2 * * *', options: { ...options, level: 9 } }, null],
    ['missing options', { cron: '0 2 * * *' }, null],
  ])('refuses %s with 400 and stores and schedules nothing', async (_label, body, message) => {
    const [rowsBefore, before] = [await rowCount(), (await schedulers()).size];
    const res = await t.call('operator', { method: 'POST', url: base(), payload: body });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_ERROR');
    if (message) expect(res.json().error.message).toMatch(message);
    expect(await rowCount()).toBe(rowsBefore);
    expect((await schedulers()).size).toBe(before);
  });

  it('refuses a PATCH to an invalid cron and leaves the schedule as it was', async () => {
    const s = await create({ cron: '0 1 * * *', options });
    const res = await t.call('operator', { method: 'PATCH', url: `${base()}/${s.id}`, payload: { cron: 'every day' } });
    expect(res.statusCode).toBe(400);
    expect((await schedulers()).get(s.id)?.pattern).toBe('0 1 * * *');
    expect((await t.call('viewer', { method: 'GET', url: `${base()}/${s.id}` })).json().data.cron).toBe('0 1 * * *');
  });

  it('lets viewers read but not write, and answers 404 for an unknown server', async () => {
    const before = await rowCount();
    expect((await t.call('viewer', { method: 'POST', url: base(), payload: { cron: '0 2 * * *', options } })).statusCode).toBe(403);
    expect(await rowCount()).toBe(before);
    const missing = await t.call('operator', { method: 'POST', url: `/api/servers/${randomUUID()}/backup-schedules`, payload: { cron: '0 2 * * *', options } });
    expect(missing.statusCode).toBe(404);
    expect(await rowCount()).toBe(before);
  });
});

describe('reconciler', () => {
  it('re-creates a lost scheduler, removes an orphan, keeps the cleanup scheduler, and does not rewrite what matches', async () => {
    const s = await create({ cron: '0 5 * * *', options });
    const before = await queue().getJobScheduler(backupSchedulerId(s.id));
    await queue().removeJobScheduler(backupSchedulerId(s.id));
    const orphan = randomUUID();
    await queue().upsertJobScheduler(`${BACKUP_SCHEDULER_PREFIX}${orphan}`, { pattern: '0 6 * * *' }, { name: 'backup:scheduled', data: {} });

    const result = await t.app.reconcileSchedules();
    expect(result.upserted).toEqual([backupSchedulerId(s.id)]);
    expect(result.removed).toEqual([`${BACKUP_SCHEDULER_PREFIX}${orphan}`]);
    const after = await queue().getJobScheduler(backupSchedulerId(s.id));
    expect(after?.next).toBe(before?.next);
    expect(await queue().getJobScheduler(CLEANUP_SCHEDULER_ID)).toMatchObject({ pattern: '0 4 * * *', tz: 'Europe/Berlin', name: 'backup:cleanup' });

    expect(await t.app.reconcileSchedules()).toEqual({ upserted: [], removed: [] });
  });

  it('answers 503 when Redis is down, keeps the schedule in PostgreSQL, and the reconciler applies it later', async () => {
    const down = await buildApp({ env: { ...t.env, REDIS_URL: 'redis://127.0.0.1:1' }, logger: false });
    try {
      const res = await down.inject({ method: 'POST', url: base(), headers: { authorization: `Bearer ${t.tokens.operator}` }, payload: { cron: '0 9 * * *', options } });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.message).toMatch(/saved.*applied automatically/);
    } finally {
      await down.close();
    }
    const saved = (await t.database.db.select().from(backupSchedules)).find((r) => r.cron === '0 9 * * *');
    expect(saved).toBeDefined();
    expect((await schedulers()).has(saved!.id)).toBe(false);
    expect((await t.app.reconcileSchedules()).upserted).toEqual([backupSchedulerId(saved!.id)]);
    expect((await schedulers()).get(saved!.id)?.pattern).toBe('0 9 * * *');
  });

  it("deleting a server removes its schedules' job schedulers", async () => {
    const other = await createServer(t, { name: 'doomed' });
    const res = await t.call('operator', { method: 'POST', url: `/api/servers/${other}/backup-schedules`, payload: { cron: '0 7 * * *', options } });
    const id = res.json().data.id as string;
    expect((await schedulers()).has(id)).toBe(true);
    expect((await t.call('operator', { method: 'DELETE', url: `/api/servers/${other}` })).statusCode).toBe(200);
    expect((await schedulers()).has(id)).toBe(false);
    expect((await t.database.db.select().from(backupSchedules)).some((r) => r.id === id)).toBe(false);
  });
});

describe('next scheduled backup and scheduled job ids', () => {
  it("shows the earliest enabled schedule's next run in the server summary", async () => {
    const sched = await t.call('viewer', { method: 'GET', url: base() });
    const enabled = (sched.json().data as { enabled: boolean; nextRuns: string[] }[]).filter((s) => s.enabled);
    const earliest = enabled.map((s) => s.nextRuns[0]!).sort()[0];
    const res = await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}/summary` });
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.stringify(res.json().data)).toContain(earliest);
  });

  it('GET /api/jobs/:id accepts a scheduler-made job id', async () => {
    const s = await create({ cron: '0 8 * * *', options });
    const next = (await schedulers()).get(s.id)?.next;
    const jobId = `repeat:${backupSchedulerId(s.id)}:${next}`;
    const res = await t.call('viewer', { method: 'GET', url: `/api/jobs/${encodeURIComponent(jobId)}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({ id: jobId, name: 'backup:scheduled', serverId, state: 'delayed' });
    expect((await t.call('viewer', { method: 'GET', url: '/api/jobs/repeat:nope' })).statusCode).toBe(400);

    // The schedule owns its next run: cancel and delete answer 409 naming the way out, and the run stays queued.
    for (const req of [
      { method: 'POST' as const, url: `/api/jobs/${encodeURIComponent(jobId)}/cancel` },
      { method: 'DELETE' as const, url: `/api/jobs/${encodeURIComponent(jobId)}` },
    ]) {
      const refused = await t.call('operator', req);
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.json().error.message).toMatch(/schedule/);
    }
    expect(await t.app.producer.queue('backup').getJobState(jobId)).toBe('delayed');
    expect(await t.redis.redis.exists(`${t.redis.prefix}:mm:cancel:${jobId}`)).toBe(0);
  });
});

describe('maintenance', () => {
  it('POST /api/maintenance/cleanup is admin only and enqueues backup:cleanup at LOW priority', async () => {
    expect((await t.call('operator', { method: 'POST', url: '/api/maintenance/cleanup' })).statusCode).toBe(403);
    const res = await t.call('admin', { method: 'POST', url: '/api/maintenance/cleanup' });
    expect(res.statusCode, res.body).toBe(202);
    const job = await queue().getJob(res.json().data.jobId);
    expect(job?.name).toBe('backup:cleanup');
    expect(job?.data).toEqual({ userId: t.userIds.admin });
    expect(job?.opts.priority).toBe(4);
  });
});
