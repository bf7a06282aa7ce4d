import { CommanderError } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { buildProgram } from './program.js';

const QUIET_EXITS = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has already printed the message; help and version are not errors.
    process.exitCode = QUIET_EXITS.has(err.code) && err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`mm: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`mm: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = ExitCode.failed;
  }
}
