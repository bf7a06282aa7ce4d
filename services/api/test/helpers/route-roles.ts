import type { Role } from '../../src/domain/roles.js';

/** An id that names nothing: routes answer 404 past the guard, so a 401/403 can only come from the guard. */
export const NONE = '00000000-0000-4000-8000-000000000000';

export interface RouteRole {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: () => string;
  payload?: () => object;
  /** The least role the route needs. */
  role: Role;
  /** The route as the OpenAPI document names it. */
  documented: string;
}

/** The role table: every /api route, the least role it needs, and a request that is otherwise valid. */
export function routeRoles(serverId: () => string): RouteRole[] {
  let n = 0;
  return [
    { method: 'GET', url: () => '/api/auth/me', role: 'viewer', documented: '/api/auth/me' },
    { method: 'POST', url: () => '/api/users', payload: () => ({ email: `u${++n}-${Date.now()}@example.test`, password: 'a-long-enough-password', role: 'viewer' }), role: 'admin', documented: '/api/users' },
    { method: 'GET', url: () => '/api/users', role: 'admin', documented: '/api/users' },
    { method: 'DELETE', url: () => `/api/users/${NONE}`, role: 'admin', documented: '/api/users/{id}' },
    { method: 'POST', url: () => '/api/servers', payload: () => ({ name: 'r', host: 'r.example.test', username: 'u', auth: { type: 'password', password: 'p' } }), role: 'operator', documented: '/api/servers' },
    { method: 'GET', url: () => '/api/servers', role: 'viewer', documented: '/api/servers' },
    { method: 'GET', url: () => `/api/servers/${serverId()}`, role: 'viewer', documented: '/api/servers/{id}' },
    { method: 'PATCH', url: () => `/api/servers/${serverId()}`, payload: () => ({ name: 'renamed' }), role: 'operator', documented: '/api/servers/{id}' },
    { method: 'DELETE', url: () => `/api/servers/${NONE}`, role: 'operator', documented: '/api/servers/{id}' },
    { method: 'POST', url: () => `/api/servers/${serverId()}/backup`, payload: () => ({}), role: 'operator', documented: '/api/servers/{serverId}/backup' },
    { method: 'POST', url: () => `/api/servers/${serverId()}/scan`, payload: () => ({ scan_type: 'quick' }), role: 'operator', documented: '/api/servers/{serverId}/scan' },
    { method: 'POST', url: () => `/api/servers/${serverId()}/update`, payload: () => ({ dry_run: true }), role: 'operator', documented: '/api/servers/{serverId}/update' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/backups`, role: 'viewer', documented: '/api/servers/{id}/backups' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/scans`, role: 'viewer', documented: '/api/servers/{id}/scans' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/updates`, role: 'viewer', documented: '/api/servers/{id}/updates' },
    { method: 'GET', url: () => `/api/backups/${NONE}`, role: 'viewer', documented: '/api/backups/{id}' },
    { method: 'GET', url: () => `/api/scans/${NONE}`, role: 'viewer', documented: '/api/scans/{id}' },
    { method: 'GET', url: () => `/api/updates/${NONE}`, role: 'viewer', documented: '/api/updates/{id}' },
    { method: 'GET', url: () => `/api/jobs/${NONE}`, role: 'viewer', documented: '/api/jobs/{id}' },
    { method: 'GET', url: () => '/api/jobs', role: 'viewer', documented: '/api/jobs' },
    { method: 'DELETE', url: () => `/api/jobs/${NONE}`, role: 'operator', documented: '/api/jobs/{id}' },
    { method: 'POST', url: () => `/api/jobs/${NONE}/retry`, role: 'operator', documented: '/api/jobs/{id}/retry' },
    { method: 'GET', url: () => '/api/jobs/stats/all', role: 'viewer', documented: '/api/jobs/stats/all' },
    // A job that does not exist answers 404 before any stream opens.
    { method: 'GET', url: () => `/api/jobs/${NONE}/events`, role: 'viewer', documented: '/api/jobs/{id}/events' },
    // Queue administration: admin only. The scan queue of a test prefix has no workers, so pausing it harms nothing.
    { method: 'GET', url: () => '/api/queues', role: 'admin', documented: '/api/queues' },
    { method: 'POST', url: () => '/api/queues/scan/pause', role: 'admin', documented: '/api/queues/{queue}/pause' },
    { method: 'POST', url: () => '/api/queues/scan/resume', role: 'admin', documented: '/api/queues/{queue}/resume' },
    { method: 'POST', url: () => '/api/queues/scan/retry-failed', role: 'admin', documented: '/api/queues/{queue}/retry-failed' },
    { method: 'POST', url: () => '/api/queues/scan/clean', payload: () => ({ state: 'completed', olderThanMs: 0 }), role: 'admin', documented: '/api/queues/{queue}/clean' },
    { method: 'POST', url: () => '/api/queues/scan/promote-delayed', role: 'admin', documented: '/api/queues/{queue}/promote-delayed' },
    { method: 'GET', url: () => '/api/metrics/queues', role: 'viewer', documented: '/api/metrics/queues' },
    { method: 'GET', url: () => '/api/metrics/system', role: 'viewer', documented: '/api/metrics/system' },
  ];
}

/**
 * Routes the table leaves out on purpose, each with why. GET /api/events is an endless stream on success, so
 * `inject` would never return; its guard is the same hook, checked with bad tokens (which answer before the stream).
 */
export const STREAM_ONLY: { method: 'GET'; url: string; role: Role; documented: string }[] = [{ method: 'GET', url: '/api/events', role: 'viewer', documented: '/api/events' }];
