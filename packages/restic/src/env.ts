/** Only what restic and ssh need from our environment: never the worker's own secrets. */
export const PASSED_THROUGH = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'] as const;

export type ResticBaseEnv = Partial<Record<(typeof PASSED_THROUGH)[number], string>>;

/**
 * The variables of `source` restic's child process inherits. The one place @mm/restic reads process.env (the default
 * when the caller passes no environment of its own, `ResticOptions.baseEnv`).
 */
export function resticBaseEnv(source: Record<string, string | undefined> = process.env): ResticBaseEnv {
  const env: ResticBaseEnv = {};
  for (const key of PASSED_THROUGH) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}
