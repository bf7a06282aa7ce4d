import { pingQueueRedis, type RedisClient } from '@mm/jobs';
import type { Logger } from '@mm/config';

/** Logs the transitions of the shared Redis connection, not every reconnect attempt. */
export function watchRedis(connection: RedisClient, log: Logger): void {
  let down = false;
  connection.on('error', (err) => {
    if (!down) log.error({ err }, 'Redis connection lost; retrying');
    down = true;
  });
  connection.on('ready', () => {
    if (down) log.info('Redis connection restored');
    down = false;
  });
}

/** The health probe's Redis check. The worker connection queues commands while Redis is away; a probe must answer "down" instead of waiting. */
export function pingRedis(connection: RedisClient, prefix: string): Promise<unknown> {
  if (connection.status !== 'ready') return Promise.reject(new Error(`redis ${connection.status}`));
  return pingQueueRedis(connection, prefix);
}
