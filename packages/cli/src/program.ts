import { Command } from 'commander';
import { registerBackups } from './commands/backups.js';
import { registerJobs } from './commands/jobs.js';
import { registerLogin } from './commands/login.js';
import { registerServers } from './commands/servers.js';
import { registerSummary } from './commands/summary.js';
import { registerToken } from './commands/token.js';
import { registerRuns } from './commands/runs.js';
import { registerTriggers } from './commands/triggers.js';

export const VERSION = '0.1.0';

/** Every `mm` command; exit codes and --json are described in docs/CLI.md. */
export function buildProgram(): Command {
  const program = new Command('mm')
    .description('Medicine Man from the command line: servers, backups, scans, updates and their jobs')
    .version(VERSION)
    .option('--json', "print only the API's data as JSON on stdout")
    .showHelpAfterError('(run with --help for usage)')
    // Commander's own usage errors are thrown (main.ts maps them to exit 2) instead of exiting with 1.
    .exitOverride();
  registerLogin(program);
  registerToken(program);
  registerServers(program);
  registerTriggers(program);
  registerJobs(program);
  registerBackups(program);
  registerRuns(program);
  registerSummary(program);
  return program;
}
