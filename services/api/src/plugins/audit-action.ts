/** Routes whose derived name would mislead: a trigger acts on the server but creates a backup, scan or update. */
const NAMED: Record<string, string> = {
  'POST /api/servers/:serverId/backup': 'backup.trigger',
  'POST /api/servers/:serverId/scan': 'scan.trigger',
  'POST /api/servers/:serverId/update': 'update.trigger',
  'POST /api/auth/session': 'auth.session_start',
  'DELETE /api/auth/session': 'auth.session_end',
  // Nested under a server: the derived name would read as a change to the server itself.
  'POST /api/servers/:id/backup-schedules': 'backup_schedule.create',
  'PATCH /api/servers/:id/backup-schedules/:scheduleId': 'backup_schedule.update',
  'DELETE /api/servers/:id/backup-schedules/:scheduleId': 'backup_schedule.delete',
  'PUT /api/servers/:id/retention': 'retention.replace',
  'DELETE /api/servers/:id/retention': 'retention.delete',
};

const METHOD_VERBS: Record<string, string> = { POST: 'create', PUT: 'replace', PATCH: 'update', DELETE: 'delete' };

const singular = (word: string) => (word.endsWith('ies') ? `${word.slice(0, -3)}y` : word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word);

/**
 * `<resource>.<verb>` from a route pattern and method, so new routes are named without a table to keep up:
 * `POST /api/servers` is `server.create`, `DELETE /api/users/:id` is `user.delete`, and a trailing word names
 * the verb (`POST /api/jobs/:id/cancel` is `job.cancel`, `POST /api/auth/login` is `auth.login`).
 */
export function auditAction(method: string, route: string): string {
  const named = NAMED[`${method} ${route}`];
  if (named) return named;
  const segments = route.replace(/^\/api\//, '').split('/').filter(Boolean);
  const words = segments.filter((s) => !s.startsWith(':'));
  const resource = singular(words[0] ?? 'api');
  const last = segments.at(-1);
  if (words.length > 1 && last !== undefined && !last.startsWith(':')) return `${resource}.${words.slice(1).join('.')}`;
  return `${resource}.${METHOD_VERBS[method] ?? method.toLowerCase()}`;
}

/** The resource a call acted on: the route's id-like parameter, else (for a create) the id the response names. */
export function auditTarget(params: unknown, createdId: string | undefined): string | null {
  const p = (params ?? {}) as Record<string, unknown>;
  for (const key of ['id', 'serverId', 'queue', ...Object.keys(p)]) {
    const value = p[key];
    if (typeof value === 'string' && value !== '') return value.slice(0, 200);
  }
  return createdId ?? null;
}

export const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
