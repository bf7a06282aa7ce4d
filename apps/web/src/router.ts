import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (`#/servers/<id>`): the API serves one index.html at / and needs no fallback for every client path,
 * and a reload keeps the page. Each route is a pattern with `:name` parts.
 */
export type Route =
  | { page: 'fleet' }
  | { page: 'server'; id: string }
  | { page: 'job'; id: string }
  | { page: 'backup'; id: string }
  | { page: 'runs' }
  | { page: 'run'; id: string }
  | { page: 'history' }
  | { page: 'admin' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, id] = parts;
  if (first === 'servers' && id) return { page: 'server', id };
  if (first === 'jobs' && id) return { page: 'job', id };
  if (first === 'backups' && id) return { page: 'backup', id };
  if (first === 'runs' && id) return { page: 'run', id };
  if (first === 'runs') return { page: 'runs' };
  if (first === 'history') return { page: 'history' };
  if (first === 'admin') return { page: 'admin' };
  return { page: 'fleet' };
}

export const href = {
  fleet: '#/',
  server: (id: string) => `#/servers/${encodeURIComponent(id)}`,
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  backup: (id: string) => `#/backups/${encodeURIComponent(id)}`,
  runs: '#/runs',
  run: (id: string) => `#/runs/${encodeURIComponent(id)}`,
  history: '#/history',
  admin: '#/admin',
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
