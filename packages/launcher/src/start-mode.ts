import { isAbsolute, relative } from 'node:path';
import { resolveQueueBackend, type QueueBackendKind } from '@mm/config';
import type { LauncherEnv } from './env.js';

/** What `pnpm start` runs on: chosen once here, from the raw environment, before the launcher sets anything. */
export interface StartMode {
  /** Development without DATABASE_URL: the launcher runs PostgreSQL itself. */
  embedded: boolean;
  /** Decided now and handed to the services as QUEUE_BACKEND: once the launcher sets DATABASE_URL they could no longer tell. */
  queues: QueueBackendKind;
  /** QUEUE_BACKEND was given (it wins over REDIS_URL), so switching means changing it. */
  queuesChosen: boolean;
}

export function chooseStartMode(env: LauncherEnv, raw: NodeJS.ProcessEnv): StartMode {
  return {
    embedded: env.NODE_ENV !== 'production' && env.DATABASE_URL === undefined,
    queues: resolveQueueBackend(raw),
    queuesChosen: raw.QUEUE_BACKEND === 'redis' || raw.QUEUE_BACKEND === 'postgres',
  };
}

/** host:port of each URL in a comma-separated list; never a password. */
function hostsOf(urls: string): string {
  return urls
    .split(',')
    .map((url) => {
      try {
        const { hostname, port } = new URL(url.trim());
        return port ? `${hostname}:${port}` : hostname;
      } catch {
        return '(unparsable URL)';
      }
    })
    .join(', ');
}

export interface StartLineInput {
  mode: StartMode;
  /** The embedded server's folder and port, when it runs. */
  embedded?: { dir: string; port: number; shared: boolean };
  databaseUrl: string;
  redisUrl: string;
  root: string;
}

/** The one line saying which mode runs and how to switch (README, docs/DEPLOYMENT.md). */
export function startLine({ mode, embedded, databaseUrl, redisUrl, root }: StartLineInput): string {
  let database: string;
  if (embedded) {
    const rel = relative(root, embedded.dir);
    const shown = rel.startsWith('..') || isAbsolute(rel) ? embedded.dir : `./${rel}`;
    database = `embedded PostgreSQL at ${shown} (127.0.0.1:${embedded.port}${embedded.shared ? ', started by another pnpm start' : ''})`;
  } else {
    database = `PostgreSQL at ${hostsOf(databaseUrl)}`;
  }
  const queues = mode.queues === 'postgres' ? 'queues on PostgreSQL' : `queues on Redis at ${hostsOf(redisUrl)}`;
  const howTo: string[] = [];
  if (embedded) howTo.push('set DATABASE_URL to use your own PostgreSQL');
  if (mode.queues === 'postgres') howTo.push(mode.queuesChosen ? 'set QUEUE_BACKEND=redis to run the queues on Redis' : 'set REDIS_URL to run the queues on Redis');
  const hint = howTo.length > 0 ? `; ${howTo.join(', ')} (docs/DEPLOYMENT.md)` : '';
  return `${database}, ${queues}${hint}`;
}
