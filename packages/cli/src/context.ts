import type { Command } from 'commander';
import { Api } from './api.js';
import { resolveSettings } from './config.js';
import { readCliEnv, type CliEnv } from './env.js';
import type { ExitCode } from './exit-codes.js';
import { Output } from './output.js';

export interface Context {
  out: Output;
  env: CliEnv;
  /** The API client for the configured URL and credential (MM_URL / MM_TOKEN over the config file). */
  api(): Promise<Api>;
}

/** A command's work: it may return the exit code (1 when a followed job failed), 0 otherwise. */
type Handler<A extends unknown[]> = (ctx: Context, ...args: A) => Promise<ExitCode | void>;

/** Adapts a handler to commander: the last argument commander passes is the command, whose global options hold --json. */
export function action<A extends unknown[]>(handler: Handler<A>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args.at(-1) as Command;
    const { json } = command.optsWithGlobals<{ json?: boolean }>();
    const env = readCliEnv();
    let api: Api | undefined;
    const ctx: Context = {
      out: new Output(json === true),
      env,
      async api() {
        api ??= new Api(await resolveSettings(env));
        return api;
      },
    };
    const code = await handler(ctx, ...(args.slice(0, -1) as A));
    if (code) process.exitCode = code;
  };
}
