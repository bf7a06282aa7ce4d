/** Base of every failure the SSH layer reports. `retryable` tells the worker runtime whether BullMQ should try again. */
export class SshError extends Error {
  override name = 'SshError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server presented a different host key than the pinned one: possibly a man in the middle. Never retried. */
export class HostKeyMismatchError extends SshError {
  override name = 'HostKeyMismatchError';
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`host key mismatch for ${host}: expected ${expected}, server presented ${actual}`, false);
  }
}

/** The server rejected the credentials (or they could not be used). Retrying with the same ones cannot help. */
export class SshAuthError extends SshError {
  override name = 'SshAuthError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options);
  }
}

/** The remote user may not do what was asked (e.g. read a path). Thrown by handlers that recognise it; never retried. */
export class SshPermissionError extends SshError {
  override name = 'SshPermissionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options);
  }
}

/** Refused, reset, unreachable, handshake failure, dropped connection: transient, so retried with backoff. */
export class SshConnectionError extends SshError {
  override name = 'SshConnectionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
  }
}

/** A connect or a command took longer than allowed; for a command the remote process has been killed. */
export class SshTimeoutError extends SshError {
  override name = 'SshTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
  }
}

/** The caller's AbortSignal fired; the remote process has been killed. Not retried: someone asked to stop. */
export class SshAbortedError extends SshError {
  override name = 'SshAbortedError';
  constructor(message = 'ssh command aborted') {
    super(message, false);
  }
}

/** The command printed more than its output limit; the remote process has been killed. Not retried: it would print as much again. */
export class SshOutputLimitError extends SshError {
  override name = 'SshOutputLimitError';
  constructor(
    readonly limitBytes: number,
    where: string,
  ) {
    super(`output of a command on ${where} passed its limit of ${limitBytes} bytes; the command was killed`, false);
  }
}
