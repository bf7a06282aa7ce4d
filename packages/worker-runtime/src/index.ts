export { WorkerEnv, WorkerEnvSchema, healthPortEnv, type WorkerEnvValues } from './worker-env.js';
export { runWorker, type RunWorkerOptions, type RunningWorker } from './run-worker.js';
export { runWorkerMain } from './run-worker-main.js';
export type { JobContext } from './job-context.js';
export type { RecordWriter, TableSpecificInsert } from './record-writer.js';
export { classifyError } from './error-classification.js';
export { SecretRedactor } from './secret-redactor.js';
export { stallSettings } from './stall-settings.js';
export { createJobOutput, type JobOutput } from './job-output.js';
