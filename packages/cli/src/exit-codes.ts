/** The documented exit codes (docs/CLI.md); scripts branch on them. */
export const ExitCode = {
  ok: 0,
  /** The job (or one of the jobs) failed, was cancelled or removed; or the API refused the request as conflicting. */
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  /** The API could not be reached, answered 5xx, or asked to slow down (429). */
  unavailable: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error whose message is meant for the operator, with the exit code it ends the process with. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.usage);

/** The exit code an HTTP status from the API means. */
export function exitCodeOfStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404) return ExitCode.notFound;
  if (status === 400 || status === 413 || status === 415) return ExitCode.usage;
  if (status === 429 || status >= 500) return ExitCode.unavailable;
  return ExitCode.failed;
}
