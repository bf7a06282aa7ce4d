import fc from 'fast-check';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueAliases } from '@mm/jobs';
import { errorCatalog } from '../src/shared/errors.js';
import type { Role } from '../src/shared/roles.js';
import { createServer, createTestApp, type TestApp } from './helpers/test-app.js';
import { fromSchema, hostileString, hostileValue, mutated, type JsonSchema } from './helpers/hostile-arbitraries.js';

// Property-based: every documented route gets requests built from its own schema, and from outside it.

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}
interface Operation {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  parameters: Parameter[];
  body?: JsonSchema;
  /** A Server-Sent Events route: a valid request opens a stream that never ends, so only rejected ones are sent. */
  streaming: boolean;
  /** Only requests outside the schema are sent: a stream that never ends, or a valid request that would act outside the test's sandbox. */
  onlyRejected: boolean;
}

// A valid storage target makes the API run restic: it would create a repository at a generated absolute path on this
// host, or connect to a generated S3/REST/SFTP endpoint. storage-targets.test.ts sends it valid definitions on loopback.
const OUTSIDE_EFFECTS = new Set(['POST /api/storage-targets']);

let t: TestApp;
let serverId: string;
let operations: Operation[];
let document: Record<string, unknown>;

beforeAll(async () => {
  // A BACKUP_DIR outside the source tree: storage targets show the default repository's path, which is data, not an
  // internal the /work/ pattern below looks for.
  t = await createTestApp({ BACKUP_DIR: '/var/lib/medicine-man-test/backups' });
  serverId = await createServer(t);
  const doc = (await t.call(null, { method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>();
  document = doc as unknown as Record<string, unknown>;
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const responses = JSON.stringify(op.responses ?? {});
      const body = (op.requestBody as { content?: Record<string, { schema: JsonSchema }> } | undefined)?.content?.['application/json']?.schema;
      return {
        method: method.toUpperCase() as Operation['method'],
        path,
        parameters: (op.parameters as Parameter[] | undefined) ?? [],
        ...(body ? { body } : {}),
        streaming: responses.includes('text/event-stream') && !path.includes('{'),
        onlyRejected: (responses.includes('text/event-stream') && !path.includes('{')) || OUTSIDE_EFFECTS.has(`${method.toUpperCase()} ${path}`),
      };
    }),
  );
});
afterAll(async () => {
  await t?.close();
});

const STACK_OR_INTERNALS = [
  /\bat [\w.<>[\] ]+ \(/, // a stack frame
  /node_modules|\/work\/|\.ts:\d+/,
  /\b(TypeError|ReferenceError|RangeError|SyntaxError)\b/,
  /Unexpected token|JSON at position/,
  /postgres|drizzle|Failed query|relation "|ioredis|ECONNREFUSED/i,
  /FST_[A-Z_]+/,
];

async function jobCount(): Promise<number> {
  const counts = await Promise.all(queueAliases.map((q) => t.app.producer.queue(q).getJobCounts()));
  return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
}

/** The properties every answer must have, whatever was sent. */
function checkAnswer(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what} -> ${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500);
  for (const pattern of STACK_OR_INTERNALS) expect(res.body, what).not.toMatch(pattern);
  if (res.statusCode >= 400) {
    const body = res.json<{ success: boolean; error: { code: keyof typeof errorCatalog; message: string; details?: unknown[] } }>();
    expect(body.success, what).toBe(false);
    expect(Object.keys(errorCatalog), what).toContain(body.error.code);
    expect(errorCatalog[body.error.code].status, what).toBe(res.statusCode);
    expect(typeof body.error.message).toBe('string');
    expect(Object.keys(body).sort()).toEqual(['error', 'success']);
  }
}

/** Sends one request and checks it: a rejected request enqueues nothing, an accepted trigger at most one job. */
async function send(opts: InjectOptions & { url: string }, role: Role | null): Promise<LightMyRequestResponse> {
  const before = await jobCount();
  const res = await t.call(role, opts);
  const what = `${String(opts.method)} ${opts.url.slice(0, 150)} as ${role ?? 'anonymous'}`;
  checkAnswer(res, what);
  const added = (await jobCount()) - before;
  if (res.statusCode === 202) expect(added, what).toBeLessThanOrEqual(1);
  // Other answers add no job (queue administration may remove some).
  else expect(added, `${what} answered ${res.statusCode} but enqueued ${added}`).toBeLessThanOrEqual(0);
  return res;
}

const role = fc.constantFrom<Role | null>('admin', 'admin', 'admin', 'operator', 'viewer', null);

/** A request for `op`: from its schema when `valid`, otherwise with at least a chance of every part being hostile. */
function request(op: Operation, valid: boolean): fc.Arbitrary<InjectOptions & { url: string }> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const query = op.parameters.filter((p) => p.in === 'query');
  const headers = op.parameters.filter((p) => p.in === 'header');
  // The real server's id reaches past "not found" into validation and the enqueue; DELETE gets random ids so the server survives.
  const idValue = op.method === 'DELETE' ? fc.uuid() : fc.oneof(fc.constant(serverId), fc.uuid());
  const validPath = (p: Parameter) => (p.schema.format === 'uuid' ? idValue : fromSchema(p.schema));
  const pathValue = (p: Parameter) => (valid ? validPath(p) : fc.oneof(validPath(p), hostileString));
  const queryValue = (p: Parameter) => (valid ? fromSchema(p.schema) : fc.oneof(fromSchema(p.schema), hostileValue));
  const queryRecord = fc.record(Object.fromEntries(query.map((p) => [p.name, queryValue(p)])), { requiredKeys: [] });
  // additionalProperties: false on every querystring, so an unknown key must be a 400 (and keeps a stream route from opening).
  const extraQuery = valid && !op.streaming ? fc.constant({}) : fc.dictionary(fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor', 'x')), hostileString, { minKeys: op.streaming ? 1 : 0, maxKeys: 2 });
  const headerRecord = fc.record(Object.fromEntries(headers.map((p) => [p.name, valid ? fromSchema(p.schema) : hostileString])), { requiredKeys: [] });
  const body = op.body ? (valid ? fromSchema(op.body) : fc.oneof(mutated(op.body), hostileValue)) : fc.constant(undefined);

  return fc.tuple(fc.tuple(...pathParams.map(pathValue)), queryRecord, extraQuery, headerRecord, body).map(([ids, q, extra, h, payload]) => {
    let url = op.path;
    pathParams.forEach((p, i) => (url = url.replace(`{${p.name}}`, encodeURIComponent(String(ids[i])))));
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...extra, ...q })) params.append(k, typeof v === 'string' ? v : JSON.stringify(v));
    const search = params.toString();
    // Header values cannot carry control characters on the wire: those are the transport's to reject, not the API's.
    const headerValues = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v).replace(/[^\x20-\x7e]/g, '?')]).filter(([, v]) => v !== ''));
    return {
      method: op.method,
      url: search ? `${url}?${search}` : url,
      headers: headerValues,
      ...(payload !== undefined && op.body ? { payload: payload as InjectOptions['payload'] } : {}),
    };
  });
}

describe('hostile input: every documented route, from its schema and from outside it', () => {
  it('lists every route of the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThanOrEqual(25);
    expect(operations.map((o) => `${o.method} ${o.path}`)).toContain('POST /api/servers/{serverId}/backup');
  });

  it('never answers 5xx or a stack trace, always the envelope on 4xx, and enqueues nothing it rejects', async () => {
    const choice = fc.constantFrom(...operations.map((_, i) => i));
    await fc.assert(
      fc.asyncProperty(
        choice.chain((i) => {
          const op = operations[i] as Operation;
          return fc.tuple(fc.constant(op), op.onlyRejected ? request(op, false) : fc.oneof(request(op, true), request(op, false)), role);
        }),
        async ([, opts, who]) => {
          await send(opts, who);
        },
      ),
      { numRuns: 250 },
    );
  });

  it('answers schema-valid requests to every route with a 2xx, or a 4xx that names why', async () => {
    // Schema-valid input must get past validation somewhere on every route (a 400 for each would mean the schema lies).
    // Except where validity needs more than a schema: a webhook URL must also resolve to a public address (SSRF guard),
    // a schedule's cron must parse (random strings almost never do), a fleet run's selector must match a server (random
    // ones match none of the few this test creates) and its rollout waves end at "100%", and a new server's host must be
    // an allowed address (random ones are often digits, which resolve as 0.0.0.x) and its storageTargetId must exist; a
    // maintenance window's cron must parse and its timezone be an IANA name.
    const beyondSchema = new Set([
      'POST /api/webhooks',
      'POST /api/servers/{id}/backup-schedules',
      'POST /api/fleet-runs',
      'POST /api/servers',
      'PUT /api/maintenance-windows/{name}',
    ]);
    // Other routes have rules a schema cannot state either, which random samples break often but not always: a token's
    // expiresAt must be in the future, history's `from` not after `to`, a backup's optional storageTargetId must exist.
    // So samples are drawn 4 at a time (every sample still gets every check in send()) until one gets past validation,
    // up to 40: a route that answers 400 to all 40 fails.
    const seen = new Map<string, number[]>();
    for (const op of operations.filter((o) => !o.onlyRejected)) {
      const route = `${op.method} ${op.path}`;
      for (let round = 0; round < 10 && !(seen.get(route) ?? []).some((s) => s !== 400); round += 1) {
        await fc.assert(
          fc.asyncProperty(request(op, true), async (opts) => {
            const res = await send(opts, 'admin');
            seen.set(route, [...(seen.get(route) ?? []), res.statusCode]);
          }),
          { numRuns: 4 },
        );
        if (beyondSchema.has(route)) break;
      }
    }
    for (const [route, statuses] of seen) if (!beyondSchema.has(route)) expect(statuses.some((s) => s !== 400), `${route}: ${statuses.join(',')}`).toBe(true);
  });

  it('rejects raw bodies that are not JSON, are cut short, or carry polluting keys, with 4xx envelopes', async () => {
    const withBody = operations.filter((o) => o.body);
    const rawBody = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('{', '{"name":', 'null', '[]', '""', '0', 'true', '{"a":1}{"b":2}', '\u0000{}', '{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}'),
      fc.jsonValue().map((v) => JSON.stringify(v)),
    );
    const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...withBody), rawBody, contentType, async (op, payload, type) => {
        const url = op.path.replace(/\{\w+\}/g, op.method === 'DELETE' ? '00000000-0000-4000-8000-000000000000' : serverId);
        const res = await send({ method: op.method, url, payload, headers: { 'content-type': type } }, 'admin');
        // Fastify parses text/plain as a string, which no body schema accepts: 400; the other types have no parser: 415.
        if (!type.startsWith('application/json') && type !== 'text/plain') expect([401, 403, 404, 415, 429], `${op.path} ${type}`).toContain(res.statusCode);
      }),
      { numRuns: 100 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('refuses a body above BODY_LIMIT_BYTES with 413, and deeply nested JSON without crashing', async () => {
    const url = `/api/servers/${serverId}`;
    const huge = JSON.stringify({ name: 'x'.repeat(t.env.BODY_LIMIT_BYTES + 10) });
    const tooLarge = await send({ method: 'PATCH', url, payload: huge, headers: { 'content-type': 'application/json' } }, 'admin');
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const depth = Math.floor(t.env.BODY_LIMIT_BYTES / 2) - 10;
    const nested = await send({ method: 'PATCH', url, payload: '['.repeat(depth) + ']'.repeat(depth), headers: { 'content-type': 'application/json' } }, 'admin');
    expect(nested.statusCode).toBe(400);
    const nestedObject = await send({ method: 'PATCH', url, payload: '{"name":'.repeat(5_000) + '"x"' + '}'.repeat(5_000), headers: { 'content-type': 'application/json' } }, 'admin');
    expect(nestedObject.statusCode).toBe(400);
  });

  it('keeps the stored server unchanged by rejected updates and serves unicode, NUL-free names back as sent', async () => {
    const name = 'Ünïcødé 服务器 \u202e😀';
    const ok = await send({ method: 'PATCH', url: `/api/servers/${serverId}`, payload: { name } }, 'operator');
    expect(ok.statusCode).toBe(200);
    for (const payload of [{ name: '' }, { name: 'x'.repeat(101) }, { port: 0 }, { port: '22' }, { host: '-oProxyCommand=x' }, { host: 'a b' }, { backupPaths: ['relative'] }, { backupPaths: ['/a\nb'] }, { backupPaths: ['/a\u0000b'] }, { username: 'root;id' }, {}]) {
      const res = await send({ method: 'PATCH', url: `/api/servers/${serverId}`, payload }, 'operator');
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const now = await t.call('viewer', { method: 'GET', url: `/api/servers/${serverId}` });
    expect(now.json().data.name).toBe(name);
  });

  it('refuses NUL bytes, which PostgreSQL text cannot hold, with 400 instead of a failed query', async () => {
    const attempts: [Role, InjectOptions & { url: string }][] = [
      ['operator', { method: 'POST', url: '/api/servers', payload: { name: 'a\u0000b', host: 'h.example.test', username: 'u', auth: { type: 'password', password: 'p' } } }],
      ['operator', { method: 'PATCH', url: `/api/servers/${serverId}`, payload: { name: '\u0000' } }],
      ['admin', { method: 'POST', url: '/api/users', payload: { email: 'a\u0000@example.test', password: 'a-long-enough-password', role: 'viewer' } }],
      ['viewer', { method: 'GET', url: '/api/servers?tag=a%00' }],
    ];
    for (const [who, opts] of attempts) expect((await send(opts, who)).statusCode, opts.url).toBe(400);
    const login = await send({ method: 'POST', url: '/api/auth/login', payload: { email: 'admin\u0000@example.test', password: 'x' } }, null);
    expect([400, 429]).toContain(login.statusCode);
  });

  it('answers odd URLs (NUL, traversal, overlong, bad encoding) with 4xx envelopes', async () => {
    const urls = [
      '/api/servers/%00',
      `/api/servers/${serverId}%00`,
      '/api/servers/..%2f..%2fetc%2fpasswd',
      `/api/servers/${'a'.repeat(5_000)}`,
      '/api/servers/%E0%A4%A',
      '/api/servers?limit=%00',
      '/api/servers?limit=1e309',
      '/api/servers?limit=-0',
      '/api/servers?__proto__[polluted]=yes',
      '/api/servers?tag=%00',
      '/api/jobs?queue=backup,,scan',
      '/api/jobs?state=' + 'waiting,'.repeat(2_000),
      '/api/jobs?limit=1&limit=2',
    ];
    for (const url of urls) await send({ method: 'GET', url }, 'admin');
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('hostile input outside the OpenAPI document (dashboard, metrics, docs)', () => {
  it('never answers 5xx or a stack trace to odd paths, cookies and tokens', async () => {
    // The admin session cookie really opens the dashboard's own API, so the run below reaches bull-board.
    const reached = await t.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: `mm_admin_session=${t.tokens.admin}` } });
    expect(reached.statusCode).toBe(200);
    const prefix = fc.constantFrom(
      '/admin',
      '/admin/login',
      '/admin/queues',
      '/admin/queues/api/queues',
      '/admin/queues/api/redis/stats',
      '/admin/queues/api/queues/backup-queue/retry/failed',
      '/admin/queues/api/queues/scan-queue/clean/completed',
      '/admin/queues/api/queues/update-queue/pause',
      '/admin/queues/api/queues/no-such-queue/empty',
      '/admin/queues/api/queues/backup-queue/00000000-0000-4000-8000-000000000000/logs',
      '/admin/queues/api/queues/backup-queue/00000000-0000-4000-8000-000000000000/retry/failed',
      '/metrics',
      '/docs',
      '/docs/json',
      '/health',
    );
    const suffix = fc.oneof(fc.constant(''), hostileString.map((x) => `/${encodeURIComponent(x)}`), hostileString.map((x) => `?q=${encodeURIComponent(x)}`));
    const header = hostileString.map((x) => x.replace(/[^\x20-\x7e]/g, '?'));
    await fc.assert(
      fc.asyncProperty(prefix, suffix, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.oneof(header, fc.constant('admin-session')), header, async (path, rest, method, cookie, token) => {
        const res = await t.app.inject({ method: method as 'GET', url: `${path}${rest}`, headers: { cookie: `mm_admin_session=${cookie === 'admin-session' ? t.tokens.admin : cookie}`, authorization: `Bearer ${token}` } });
        expect(res.statusCode, `${method} ${path}${rest.slice(0, 100)} -> ${res.body.slice(0, 200)}`).toBeLessThan(500);
        // The API description names PostgreSQL and Redis on purpose; everything else must not.
        if (!path.startsWith('/docs')) for (const pattern of STACK_OR_INTERNALS) expect(res.body).not.toMatch(pattern);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the OpenAPI document', () => {
  it('validates against the OpenAPI 3 schema (bundled with the validator: no fetch)', async () => {
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? [], JSON.stringify(result.errors ?? []).slice(0, 2_000)).toEqual([]);
    expect(result.valid).toBe(true);
    // The validator is not vacuous: a document without `info` is refused.
    const broken = structuredClone(document);
    delete broken.info;
    expect((await new Validator().validate(broken)).valid).toBe(false);
    expect(String(document.openapi)).toMatch(/^3\.0\.\d+$/);
  });
});
