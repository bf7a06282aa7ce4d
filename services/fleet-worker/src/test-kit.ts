import { fileURLToPath } from 'node:url';
// What other packages' tests use of the fleet worker: start it in-process, or spawn its main (to SIGKILL it).
export { startFleetWorker, type RunningFleetWorker } from './fleet-worker.js';
export { FleetWorkerEnv } from './env.js';
export const FLEET_WORKER_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
