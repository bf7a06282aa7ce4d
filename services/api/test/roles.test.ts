import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/shared/roles.js';
import { createTestApp, createServer, type TestApp } from './helpers/test-app.js';
import { routeRoles } from './helpers/route-roles.js';

let t: TestApp;
let serverId: string;
beforeAll(async () => {
  t = await createTestApp();
  serverId = await createServer(t);
});
afterAll(async () => {
  await t?.close();
});

const routes = routeRoles(() => serverId);

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

describe('every route × every role', () => {
  for (const route of routes) {
    it(`${route.method} ${route.url().replace(/[0-9a-f-]{36}/g, ':id')} needs ${route.role}`, async () => {
      const anonymous = await t.call(null, { method: route.method, url: route.url(), ...(route.payload ? { payload: route.payload() } : {}) });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json().error.code).toBe('UNAUTHORIZED');
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await t.call(role, { method: route.method, url: route.url(), ...(route.payload ? { payload: route.payload() } : {}) });
        if (rank[role] < rank[route.role]) {
          expect(res.statusCode, `${role}: ${res.body}`).toBe(403);
          expect(res.json().error.code).toBe('FORBIDDEN');
        } else {
          expect([401, 403], `${role}: ${res.body}`).not.toContain(res.statusCode);
          expect(res.statusCode, `${role}: ${res.body}`).toBeLessThan(500);
        }
      }
    });
  }
});

describe('OpenAPI', () => {
  it('documents every route with its schemas at /docs/json, and serves Swagger UI at /docs', async () => {
    const res = await t.call(null, { method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    for (const route of routes) {
      // The table names each route's documented path (nested ids such as {scheduleId} cannot be guessed from the URL).
      expect(documented).toContain(`${route.method} ${route.documented}`);
    }
    expect(documented).toContain('POST /api/auth/login');
    expect(documented).toContain('GET /health');
    const backup = doc.paths['/api/servers/{serverId}/backup'].post;
    expect(backup.requestBody.content['application/json'].schema).toMatchObject({ additionalProperties: false, properties: { backup_type: { default: 'full' } } });
    expect(backup.responses['202']).toBeDefined();
    expect((await t.call(null, { method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});

describe('unknown routes', () => {
  it('answer 404 in the envelope', async () => {
    const res = await t.call('viewer', { method: 'GET', url: '/api/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
  });
});
