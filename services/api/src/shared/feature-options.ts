import type { ApiEnv } from '../env.js';

/** What every feature plugin receives (features/index.ts registers each with it); a feature reads its settings from the parsed env. */
export interface FeatureOptions {
  env: ApiEnv;
}
