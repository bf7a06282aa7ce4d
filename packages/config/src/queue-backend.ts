/** Where the queues (and the product's own queue-side state: leases, cancel markers, indexes) live. */
export type QueueBackendKind = 'redis' | 'postgres';

type Source = Record<string, string | undefined>;

const unset = (value: string | undefined) => value === undefined || value === '';

/**
 * The one switch (docs/ARCHITECTURE.md, "Queue backends"): `QUEUE_BACKEND=redis|postgres` wins. Unset (or `auto`):
 * PostgreSQL in development (NODE_ENV not `production`) when neither REDIS_URL nor DATABASE_URL is set, the zero-setup
 * start that needs nothing but Node; Redis everywhere else, as before the switch existed (REDIS_URL's default included
 * when only DATABASE_URL is set). Reads the raw environment: after parsing REDIS_URL always has its default.
 */
export function resolveQueueBackend(source: Source): QueueBackendKind {
  const chosen = source.QUEUE_BACKEND;
  if (chosen === 'redis' || chosen === 'postgres') return chosen;
  if (source.NODE_ENV !== 'production' && unset(source.REDIS_URL) && unset(source.DATABASE_URL)) return 'postgres';
  return 'redis';
}
