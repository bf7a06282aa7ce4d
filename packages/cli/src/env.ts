import { usageError } from './exit-codes.js';

/**
 * What `mm` takes from its environment (docs/CLI.md, "Configuration and credentials"); nothing else in the CLI reads
 * process.env. Checked by hand rather than with a TypeBox schema like the services' env.ts: TypeBox would be 233 KB
 * of the 510 KB bundle that every `mm` start loads, for four optional strings.
 */
export interface CliEnv {
  /** The API, over the stored URL. */
  MM_URL?: string;
  /** An API token (mm_pat_…) or a JWT, over the stored token: CI needs no login. */
  MM_TOKEN?: string;
  /** Where config.json lives; else $XDG_CONFIG_HOME/mm, else ~/.config/mm. */
  MM_CONFIG_DIR?: string;
  XDG_CONFIG_HOME?: string;
}

/** Each variable with the rule its value must meet, and what the rule says when it does not. */
const RULES: Record<keyof CliEnv, { test: RegExp; expected: string }> = {
  MM_URL: { test: /^https?:\/\/\S+$/, expected: 'an http:// or https:// URL' },
  MM_TOKEN: { test: /^\S+$/, expected: 'a token without spaces' },
  MM_CONFIG_DIR: { test: /^.+$/s, expected: 'a folder' },
  XDG_CONFIG_HOME: { test: /^.+$/s, expected: 'a folder' },
};

/** The variables of `source` the CLI knows, empty ones as absent; a malformed one is a usage error (exit 2) naming it. */
export function parseCliEnv(source: Record<string, string | undefined>): CliEnv {
  const env: CliEnv = {};
  for (const [key, rule] of Object.entries(RULES) as [keyof CliEnv, (typeof RULES)[keyof CliEnv]][]) {
    const value = source[key];
    if (value === undefined || value === '') continue;
    // The value itself is not echoed: MM_TOKEN is a secret.
    if (!rule.test.test(value)) throw usageError(`The environment variable ${key} is malformed: expected ${rule.expected}.`);
    env[key] = value;
  }
  return env;
}

/** This process's environment, read once. */
export const readCliEnv = (): CliEnv => parseCliEnv(process.env);
