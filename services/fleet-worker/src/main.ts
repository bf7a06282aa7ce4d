import { readEnv } from './env.js';
import { startFleetWorker } from './fleet-worker.js';

const env = readEnv();
const running = await startFleetWorker(env);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    running.log.info({ signal }, 'shutting down');
    void running.close().then(() => process.exit(0));
  });
}
