// Run by scripts/quick-start-check.sh inside the clean network namespace, beside a running `pnpm start`: checks that
// no PostgreSQL or Redis is reachable on their usual ports, that the API answers, and that a job runs to completion.
// Plain Node (fetch, net): nothing from the repository's dependencies, so it proves nothing by accident.
/* global fetch */
import { connect } from 'node:net';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

const api = 'http://127.0.0.1:3000';
const startWaitMs = Number(process.argv[2] ?? 300_000);
// The pid of `pnpm start`: when it has exited there is nothing left to wait for.
const startPid = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const running = () => {
  if (startPid === undefined) return true;
  try {
    process.kill(startPid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

function fail(message) {
  process.stdout.write(`FAIL ${message}\n`);
  process.exit(1);
}
const ok = (message) => process.stdout.write(`ok   ${message}\n`);

async function refused(port) {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function call(method, path, { token, body } = {}) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, json: await response.json().catch(() => undefined) };
}

for (const [port, name] of [[5432, 'PostgreSQL'], [6379, 'Redis']]) {
  if (!(await refused(port))) fail(`something answers on 127.0.0.1:${port} (${name}): the check needs a machine without it`);
  ok(`nothing listens on 127.0.0.1:${port} (${name})`);
}

const deadline = Date.now() + startWaitMs;
let health;
for (;;) {
  health = await call('GET', '/health').catch(() => undefined);
  if (health?.status === 200) break;
  if (!running()) fail('pnpm start exited before the API answered');
  if (Date.now() > deadline) fail(`the API did not answer /health with 200 within ${startWaitMs / 1000} s (last: ${JSON.stringify(health)})`);
  await sleep(1_000);
}
ok(`GET /health 200 ${JSON.stringify(health.json)}`);

const login = await call('POST', '/api/auth/login', { body: { email: 'admin@localhost', password: 'dev-only-admin-password' } });
if (login.status !== 200 || !login.json?.data?.token) fail(`login answered ${login.status} ${JSON.stringify(login.json)}`);
const token = login.json.data.token;
ok('POST /api/auth/login 200 (the seeded development admin)');

const cleanup = await call('POST', '/api/maintenance/cleanup', { token });
if (cleanup.status !== 202 || !cleanup.json?.data?.jobId) fail(`cleanup answered ${cleanup.status} ${JSON.stringify(cleanup.json)}`);
const jobId = cleanup.json.data.jobId;
ok(`POST /api/maintenance/cleanup 202 job ${jobId}`);

const jobDeadline = Date.now() + 120_000;
let job;
for (;;) {
  job = await call('GET', `/api/jobs/${encodeURIComponent(jobId)}`, { token });
  const state = job.json?.data?.state;
  if (state === 'completed') break;
  if (state === 'failed' || Date.now() > jobDeadline) fail(`job ${jobId} is ${state ?? job.status}: ${JSON.stringify(job.json)}`);
  await sleep(500);
}
ok(`GET /api/jobs/${jobId}: completed by the backup worker, result ${JSON.stringify(job.json.data.result ?? null)}`);

const queues = await call('GET', '/api/metrics/queues', { token });
if (queues.status !== 200) fail(`GET /api/metrics/queues answered ${queues.status}`);
ok(`GET /api/metrics/queues 200 health ${JSON.stringify(queues.json.data.health)}`);
