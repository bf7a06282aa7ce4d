import type { Role } from '../../src/shared/roles.js';

/** An id that names nothing: routes answer 404 past the guard, so a 401/403 can only come from the guard. */
export const NONE = '00000000-0000-4000-8000-000000000000';

export interface RouteRole {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
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
    { method: 'GET', url: () => '/api/auth/session', role: 'viewer', documented: '/api/auth/session' },
    { method: 'POST', url: () => '/api/tokens', payload: () => ({ name: 'role table' }), role: 'viewer', documented: '/api/tokens' },
    { method: 'GET', url: () => '/api/tokens', role: 'viewer', documented: '/api/tokens' },
    { method: 'DELETE', url: () => `/api/tokens/${NONE}`, role: 'viewer', documented: '/api/tokens/{id}' },
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
    { method: 'GET', url: () => `/api/servers/${serverId()}/summary`, role: 'viewer', documented: '/api/servers/{id}/summary' },
    { method: 'GET', url: () => '/api/history', role: 'viewer', documented: '/api/history' },
    { method: 'GET', url: () => `/api/backups/${NONE}`, role: 'viewer', documented: '/api/backups/{id}' },
    { method: 'GET', url: () => `/api/scans/${NONE}`, role: 'viewer', documented: '/api/scans/{id}' },
    { method: 'GET', url: () => `/api/updates/${NONE}`, role: 'viewer', documented: '/api/updates/{id}' },
    { method: 'GET', url: () => `/api/restores/${NONE}`, role: 'viewer', documented: '/api/restores/{id}' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/restores`, role: 'viewer', documented: '/api/servers/{id}/restores' },
    { method: 'POST', url: () => `/api/backups/${NONE}/verify`, role: 'operator', documented: '/api/backups/{id}/verify' },
    { method: 'POST', url: () => `/api/backups/${NONE}/restore`, payload: () => ({ targetPath: '/srv/restore' }), role: 'operator', documented: '/api/backups/{id}/restore' },
    { method: 'GET', url: () => `/api/backups/${NONE}/download`, role: 'operator', documented: '/api/backups/{id}/download' },
    { method: 'GET', url: () => `/api/backups/${NONE}/files`, role: 'viewer', documented: '/api/backups/{id}/files' },
    // A named archive target is refused (400) past the guard: a valid definition would initialise a repository.
    { method: 'POST', url: () => '/api/storage-targets', payload: () => ({ name: 'role-table', engine: 'archive', location: { type: 'local', path: '/srv/none' } }), role: 'admin', documented: '/api/storage-targets' },
    { method: 'GET', url: () => '/api/storage-targets', role: 'viewer', documented: '/api/storage-targets' },
    { method: 'GET', url: () => `/api/storage-targets/${NONE}`, role: 'viewer', documented: '/api/storage-targets/{id}' },
    { method: 'DELETE', url: () => `/api/storage-targets/${NONE}`, role: 'admin', documented: '/api/storage-targets/{id}' },
    { method: 'POST', url: () => `/api/storage-targets/${NONE}/check`, role: 'operator', documented: '/api/storage-targets/{id}/check' },
    { method: 'GET', url: () => `/api/jobs/${NONE}`, role: 'viewer', documented: '/api/jobs/{id}' },
    { method: 'GET', url: () => '/api/jobs', role: 'viewer', documented: '/api/jobs' },
    { method: 'DELETE', url: () => `/api/jobs/${NONE}`, role: 'operator', documented: '/api/jobs/{id}' },
    { method: 'POST', url: () => `/api/jobs/${NONE}/retry`, role: 'operator', documented: '/api/jobs/{id}/retry' },
    { method: 'POST', url: () => `/api/jobs/${NONE}/cancel`, role: 'operator', documented: '/api/jobs/{id}/cancel' },
    { method: 'GET', url: () => '/api/jobs/stats/all', role: 'viewer', documented: '/api/jobs/stats/all' },
    // A job that does not exist answers 404 before any stream opens.
    { method: 'GET', url: () => `/api/jobs/${NONE}/events`, role: 'viewer', documented: '/api/jobs/{id}/events' },
    // No line, no job, no record: 404 past the guard.
    { method: 'GET', url: () => `/api/jobs/${NONE}/logs`, role: 'viewer', documented: '/api/jobs/{id}/logs' },
    // Queue administration: admin only. The scan queue of a test prefix has no workers, so pausing it harms nothing.
    { method: 'GET', url: () => '/api/queues', role: 'admin', documented: '/api/queues' },
    { method: 'POST', url: () => '/api/queues/scan/pause', role: 'admin', documented: '/api/queues/{queue}/pause' },
    { method: 'POST', url: () => '/api/queues/scan/resume', role: 'admin', documented: '/api/queues/{queue}/resume' },
    { method: 'POST', url: () => '/api/queues/scan/retry-failed', role: 'admin', documented: '/api/queues/{queue}/retry-failed' },
    { method: 'POST', url: () => '/api/queues/scan/clean', payload: () => ({ state: 'completed', olderThanMs: 0 }), role: 'admin', documented: '/api/queues/{queue}/clean' },
    { method: 'POST', url: () => '/api/queues/scan/promote-delayed', role: 'admin', documented: '/api/queues/{queue}/promote-delayed' },
    { method: 'GET', url: () => '/api/audit', role: 'admin', documented: '/api/audit' },
    // A documentation address (TEST-NET-3) is public to the SSRF guard and needs no DNS; nothing is ever sent to it here.
    { method: 'POST', url: () => '/api/webhooks', payload: () => ({ url: 'https://203.0.113.10/hook', events: ['job.failed'], secret: 'a-webhook-secret-of-some-length' }), role: 'admin', documented: '/api/webhooks' },
    { method: 'GET', url: () => '/api/webhooks', role: 'admin', documented: '/api/webhooks' },
    { method: 'DELETE', url: () => `/api/webhooks/${NONE}`, role: 'admin', documented: '/api/webhooks/{id}' },
    { method: 'GET', url: () => `/api/webhooks/${NONE}/deliveries`, role: 'admin', documented: '/api/webhooks/{id}/deliveries' },
    { method: 'GET', url: () => '/api/metrics/queues', role: 'viewer', documented: '/api/metrics/queues' },
    { method: 'GET', url: () => '/api/metrics/system', role: 'viewer', documented: '/api/metrics/system' },
    { method: 'POST', url: () => `/api/servers/${serverId()}/backup-schedules`, payload: () => ({ cron: '0 3 * * *', options: {} }), role: 'operator', documented: '/api/servers/{id}/backup-schedules' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/backup-schedules`, role: 'viewer', documented: '/api/servers/{id}/backup-schedules' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/backup-schedules/${NONE}`, role: 'viewer', documented: '/api/servers/{id}/backup-schedules/{scheduleId}' },
    { method: 'PATCH', url: () => `/api/servers/${serverId()}/backup-schedules/${NONE}`, payload: () => ({ enabled: false }), role: 'operator', documented: '/api/servers/{id}/backup-schedules/{scheduleId}' },
    { method: 'DELETE', url: () => `/api/servers/${serverId()}/backup-schedules/${NONE}`, role: 'operator', documented: '/api/servers/{id}/backup-schedules/{scheduleId}' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/retention`, role: 'viewer', documented: '/api/servers/{id}/retention' },
    { method: 'PUT', url: () => `/api/servers/${serverId()}/retention`, payload: () => ({ keepLast: 30 }), role: 'operator', documented: '/api/servers/{id}/retention' },
    { method: 'DELETE', url: () => `/api/servers/${NONE}/retention`, role: 'operator', documented: '/api/servers/{id}/retention' },
    // Only enqueues: the cleanup job waits in the test prefix's backup queue, where no worker runs.
    { method: 'POST', url: () => '/api/maintenance/cleanup', role: 'admin', documented: '/api/maintenance/cleanup' },
    { method: 'POST', url: () => '/api/servers/select', payload: () => ({ selector: { tagsAny: ['web'] } }), role: 'viewer', documented: '/api/servers/select' },
    { method: 'PUT', url: () => `/api/servers/${serverId()}/labels`, payload: () => ({ labels: { env: 'test' } }), role: 'operator', documented: '/api/servers/{serverId}/labels' },
    // A selector that matches nothing: past the guard it is a 400, and no run is created.
    { method: 'POST', url: () => '/api/fleet-runs', payload: () => ({ action: 'scan', selector: { ids: [NONE] } }), role: 'operator', documented: '/api/fleet-runs' },
    { method: 'GET', url: () => '/api/fleet-runs', role: 'viewer', documented: '/api/fleet-runs' },
    { method: 'GET', url: () => `/api/fleet-runs/${NONE}`, role: 'viewer', documented: '/api/fleet-runs/{id}' },
    { method: 'GET', url: () => `/api/fleet-runs/${NONE}/events`, role: 'viewer', documented: '/api/fleet-runs/{id}/events' },
    { method: 'POST', url: () => `/api/fleet-runs/${NONE}/pause`, role: 'operator', documented: '/api/fleet-runs/{id}/pause' },
    { method: 'POST', url: () => `/api/fleet-runs/${NONE}/resume`, role: 'operator', documented: '/api/fleet-runs/{id}/resume' },
    { method: 'POST', url: () => `/api/fleet-runs/${NONE}/abort`, role: 'operator', documented: '/api/fleet-runs/{id}/abort' },
    { method: 'GET', url: () => '/api/fleet/summary', role: 'viewer', documented: '/api/fleet/summary' },
    { method: 'GET', url: () => '/api/fleet/servers', role: 'viewer', documented: '/api/fleet/servers' },
    { method: 'GET', url: () => '/api/maintenance-windows', role: 'viewer', documented: '/api/maintenance-windows' },
    { method: 'GET', url: () => '/api/maintenance-windows/none', role: 'viewer', documented: '/api/maintenance-windows/{name}' },
    { method: 'PUT', url: () => '/api/maintenance-windows/role-table', payload: () => ({ cron: '0 3 * * *', durationMin: 60, selector: { ids: [NONE] } }), role: 'admin', documented: '/api/maintenance-windows/{name}' },
    { method: 'DELETE', url: () => '/api/maintenance-windows/none', role: 'admin', documented: '/api/maintenance-windows/{name}' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/maintenance-windows`, role: 'viewer', documented: '/api/servers/{serverId}/maintenance-windows' },
    { method: 'GET', url: () => `/api/servers/${serverId()}/package-holds`, role: 'viewer', documented: '/api/servers/{serverId}/package-holds' },
    { method: 'PUT', url: () => `/api/servers/${serverId()}/package-holds`, payload: () => ({ packages: ['openssl'] }), role: 'operator', documented: '/api/servers/{serverId}/package-holds' },
  ];
}

/**
 * Routes the table leaves out on purpose, each with why. GET /api/events is an endless stream on success, so
 * `inject` would never return; its guard is the same hook, checked with bad tokens (which answer before the stream).
 */
export const STREAM_ONLY: { method: 'GET'; url: string; role: Role; documented: string }[] = [{ method: 'GET', url: '/api/events', role: 'viewer', documented: '/api/events' }];
