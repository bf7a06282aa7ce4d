import { insertTestServer } from '@mm/testing';
import { compare, type Scenario } from '../core/scenario.js';
import { median, msSince } from '../core/stats.js';
import { startApi } from '../fixtures/api-server.js';
import { createBenchRedis } from '../fixtures/bench-queue.js';
import { createBenchWorld } from '../fixtures/bench-world.js';

async function timed<T>(what: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await what();
  return { ms: msSince(start), value };
}

/**
 * Issue #15: starting a fleet run over N servers answers in < 1 s (the selector resolved once, the run and its server
 * list stored in one transaction, one orchestrator job added); and the fleet summary's first answer after the API starts
 * (cold: no prepared statement, no warm cache on the API side), then warm. No fleet worker runs: the runs stay queued.
 */
export const fleetRun: Scenario = {
  id: 'fleet-run',
  title: '11. Fleet run: POST /api/fleet-runs over N servers (quick: 50, full: 1,000), and GET /api/fleet/summary cold and warm',
  async run(config) {
    const n = config.fleetRunServers;
    const world = await createBenchWorld();
    const redis = createBenchRedis('fleet-run');
    try {
      for (let i = 1; i < n; i++) await insertTestServer(world.db.db, world.sshd, { credentialsKey: world.credentialsKey, name: `fleet-${String(i).padStart(5, '0')}` });
      const api = await startApi({ db: world.db, login: world.login, redisUrl: redis.url, prefix: redis.prefix, credentialsKey: world.credentialsKey });
      try {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${api.token}` };
        const summary = async () => {
          const res = await fetch(`${api.url}/api/fleet/summary`, { headers });
          if (res.status !== 200) throw new Error(`GET /api/fleet/summary answered ${res.status}`);
          return (await res.json()) as { data: { servers: { total: number } } };
        };
        const cold = await timed(summary);
        if (cold.value.data.servers.total !== n) throw new Error(`the summary counted ${cold.value.data.servers.total} servers, not ${n}`);
        const warm: number[] = [];
        for (let i = 0; i < Math.max(5, config.rounds * 5); i++) warm.push((await timed(summary)).ms);

        const enqueue: number[] = [];
        for (let round = 0; round < Math.max(3, config.rounds * 3); round++) {
          const { ms, value } = await timed(async () => {
            const res = await fetch(`${api.url}/api/fleet-runs`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ action: 'scan', selector: {}, concurrency: 50, rollout: { waves: [1, '10%', '100%'] } }),
            });
            return { status: res.status, body: (await res.json()) as { data?: { servers?: unknown[] } } };
          });
          if (value.status !== 202 || value.body.data?.servers?.length !== n) throw new Error(`POST /api/fleet-runs answered ${value.status} for ${value.body.data?.servers?.length} servers`);
          enqueue.push(ms);
        }
        const measure = (label: string, samples: number[]) => ({ label, median: median(samples), samples });
        return {
          metrics: [
            compare(`fleet run over ${n} servers`, 'ms', measure('API: POST /api/fleet-runs -> 202', enqueue), undefined, {
              text: 'median < 1000 ms',
              check: ({ product }) => product.median < 1_000,
            }),
            compare(`fleet summary, ${n} servers, cold (first request)`, 'ms', measure('API: GET /api/fleet/summary', [cold.ms]), undefined),
            compare(`fleet summary, ${n} servers, warm`, 'ms', measure('API: GET /api/fleet/summary', warm), undefined),
          ],
          notes: [
            `Each run stores ${n} server lines and adds one orchestrator job; no fleet worker ran, so nothing was scanned.`,
            'The summary at 10,000 servers and 1,000,000 records is measured in the database alone by bench/fleet-summary/run.sh (docs/PERFORMANCE.md).',
          ],
        };
      } finally {
        await api.close();
      }
    } finally {
      await redis.cleanup();
      await world.close();
    }
  },
};
