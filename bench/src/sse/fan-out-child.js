// Runs in its own process: opens the SSE clients, publishes progress events, and stamps send and arrival
// with process.hrtime (CLOCK_MONOTONIC, so both stamps come from one clock). Plain JS: it starts once
// per run and needs no compiler. Protocol: stdin line 1 = spec JSON, then "go"; stdout = JSON lines.
import { request, Agent } from 'node:http';
import { clearTimeout, setTimeout } from 'node:timers';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
const send = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const now = () => process.hrtime.bigint();

const spec = JSON.parse(await next());
const { apiUrl, token, jobIds, clientsPerJob, events, redisUrl, prefix, queueName } = spec;
const connection = { url: redisUrl };
const sent = new Map(); // `${jobId}:${k}` -> hrtime
const sseLatencies = [];
const rawLatencies = [];
let delivered = 0;
let subscribed = 0;
let failures = 0;
const failureReasons = {};
const fail = (reason) => {
  failures += 1;
  failureReasons[reason] = (failureReasons[reason] ?? 0) + 1;
  wake();
};
const waiters = [];
const wake = () => {
  for (const w of waiters.splice(0)) w();
};
const until = async (done, ms) => {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 50);
      waiters.push(() => (clearTimeout(t), resolve()));
    });
  }
  return true;
};

// Baseline: BullMQ's own QueueEvents reading the same stream directly.
const raw = new QueueEvents(queueName, { connection, prefix });
raw.on('progress', ({ jobId, data }) => {
  const at = sent.get(`${jobId}:${data}`);
  if (at !== undefined) rawLatencies.push(Number(now() - at) / 1e6);
});
await raw.waitUntilReady();

const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const requests = [];
const open = (jobId) => {
  const req = request(`${apiUrl}/api/jobs/${jobId}/events`, { agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
    if (res.statusCode !== 200) {
      fail(`HTTP ${res.statusCode}`);
      res.resume();
      return;
    }
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk) => {
      const at = now();
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === 'state') subscribed += 1;
        if (event === 'progress' && data) {
          const body = JSON.parse(data);
          const t = sent.get(`${body.jobId}:${body.progress}`);
          if (t !== undefined) {
            sseLatencies.push(Number(at - t) / 1e6);
            delivered += 1;
          }
        }
      }
      wake();
    });
  });
  req.on('error', (err) => fail(err.code ?? err.message));
  req.end();
  requests.push(req);
};
const clients = jobIds.length * clientsPerJob;
const subscribeStarted = now();
// Every stream opened at once, as after an API restart (a reconnect storm): each must answer 200, none 503.
for (const jobId of jobIds) for (let c = 0; c < clientsPerJob; c++) open(jobId);
const allSubscribed = (await until(() => subscribed + failures >= clients, 60_000)) && subscribed === clients;
send({ type: 'subscribed', clients, subscribed, failures, ms: Number(now() - subscribeStarted) / 1e6 });
if (!allSubscribed || failures > 0) {
  send({ type: 'result', error: `${subscribed} of ${clients} streams opened, ${failures} failed: ${JSON.stringify(failureReasons)}` });
  for (const req of requests) req.destroy();
  process.exit(0);
}
await next(); // "go": the parent has counted Redis connections

const queue = new Queue(queueName, { connection, prefix });
const jobs = await Promise.all(jobIds.map((id) => queue.getJob(id)));
for (let k = 1; k <= events; k++) {
  const expected = delivered + clients;
  await Promise.all(
    jobs.map(async (job) => {
      sent.set(`${job.id}:${k}`, now());
      await job.updateProgress(k);
    }),
  );
  await until(() => delivered >= expected, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 20));
}
send({ type: 'result', sse: sseLatencies, raw: rawLatencies, expected: clients * events });
for (const req of requests) req.destroy();
await queue.close();
await raw.close();
process.exit(0);
