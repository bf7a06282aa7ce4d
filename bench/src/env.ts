import { Type } from '@sinclair/typebox';
import { parseEnvOrExit } from '@mm/config';

/** The harness's own settings; the services under test get theirs from `childEnv`, never from this process's env. */
const BenchEnv = Type.Object({
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  /** When set, spawned workers run with `node --cpu-prof` and write their profiles here (read with src/profile-summary.ts). */
  BENCH_CPU_PROF_DIR: Type.Optional(Type.String({ minLength: 1 })),
  /** Where spawned services find `tsx`, `ssh` and `tar`. */
  PATH: Type.String({ default: '/usr/local/bin:/usr/bin:/bin' }),
});

export const benchEnv = parseEnvOrExit(BenchEnv, process.env);

/** A minimal environment for a spawned service: only PATH from here, everything else explicit. */
export function childEnv(vars: Record<string, string>): Record<string, string> {
  return { PATH: benchEnv.PATH, ...vars };
}
