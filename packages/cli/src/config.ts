import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CliEnv } from './env.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface StoredConfig {
  url?: string;
  token?: string;
  email?: string;
  tokenId?: string;
}

export interface Settings {
  url: string;
  token: string | undefined;
}

/** `$MM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mm`, else `~/.config/mm`. */
export function configDir(env: CliEnv): string {
  if (env.MM_CONFIG_DIR) return env.MM_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mm');
}

export const configFile = (env: CliEnv) => join(configDir(env), 'config.json');

export async function readConfig(env: CliEnv): Promise<StoredConfig> {
  const file = configFile(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    return JSON.parse(text) as StoredConfig;
  } catch {
    throw new CliError(`${file} is not valid JSON; run \`mm login\` again.`, ExitCode.usage);
  }
}

/** Written to a 0600 file in a 0700 folder, replaced atomically: it holds a credential. */
export async function writeConfig(env: CliEnv, config: StoredConfig): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = configFile(env);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return file;
}

/** `MM_URL` and `MM_TOKEN` win over the config file, so CI needs no login. */
export async function resolveSettings(env: CliEnv): Promise<Settings> {
  const stored = await readConfig(env);
  const url = env.MM_URL || stored.url;
  if (!url) throw new CliError('No API URL: run `mm login` or set MM_URL.', ExitCode.usage);
  return { url, token: env.MM_TOKEN || stored.token };
}
