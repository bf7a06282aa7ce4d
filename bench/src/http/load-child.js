// Runs in its own process so the load generator does not share an event loop with the server it measures.
// Plain JS: it starts once per measured run, and loading a TypeScript compiler each time would add seconds.
import { Buffer } from 'node:buffer';
import autocannon from 'autocannon';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
/** @type {import('./load-spec.js').LoadSpec} */
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  headers: spec.headers,
  requests: spec.requests,
});
const statusCodes = {};
for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count;
/** @type {import('./load-spec.js').LoadResult} */
const out = {
  requestsPerSecond: result.requests.total / result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  total: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  statusCodes,
};
process.stdout.write(JSON.stringify(out));
