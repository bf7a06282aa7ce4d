/** How to log in: what the caller decrypted from its store (the SSH layer knows no database). Never logged. */
export type SshCredentials = { type: 'key'; privateKey: string; passphrase?: string } | { type: 'password'; password: string };

/** The slice of a pino logger the SSH layer uses: fields first, then the message. */
export interface SshLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Everything needed to reach one server; handlers load it from the database and pass it down. */
export interface SshTarget {
  host: string;
  port: number;
  username: string;
  credentials: SshCredentials;
  /** 'SHA256:<base64, no padding>' as `ssh-keygen -lf` prints it; null = trust on first use. */
  hostKeyFingerprint: string | null;
}

export interface ExecOptions {
  /**
   * Default 60_000; 0 = no limit. On expiry the REMOTE process group is killed and SshTimeoutError thrown.
   * The limit counts from the moment a channel is open, not while waiting for a free one.
   */
  timeoutMs?: number;
  /**
   * Bytes the command may print, stdout and stderr together (stdout only when it is buffered: execToStream's stdout goes
   * to the sink and is not counted). Default 16 MiB. Past it the REMOTE process group is killed and SshOutputLimitError
   * thrown: a host that prints without end must not fill the worker's memory.
   */
  maxOutputBytes?: number;
  /** Lines handed to onStdoutLine/onStderrLine are cut to this many characters (default 16384), with a marker. */
  maxLineLength?: number;
  /** Abort kills the remote process group and rejects with SshAbortedError. */
  signal?: AbortSignal;
  /** Written to the command's stdin, then EOF; a stream is piped with backpressure. Without it stdin is closed at once. */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Called once the channel is open and the command started: the SSH round trips it took (ms), no TCP connect on a pooled connection. */
  onChannelOpen?: (ms: number) => void;
}

/** A non-zero exit is a result, not an error: callers decide what an exit code means. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  /** Set when the remote process died of a signal, as ssh2 names it: 'SIGTERM', 'SIGKILL'. */
  signal: string | null;
}

export interface StreamResult {
  code: number | null;
  signal: string | null;
  stderr: string;
  /** Bytes of stdout written to the sink. */
  bytes: number;
}

/**
 * Commands run as `sh -c <command>` (POSIX sh, dash on Debian), in a process group of their own so a
 * timeout or abort can kill the whole pipeline. Use `bash -c` explicitly for bash features (pipefail).
 */
export interface SshSession {
  /** What the server presented (already checked against the pin when there is one). */
  readonly hostKeyFingerprint: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Pipes the command's stdout into `sink` with backpressure (never buffers it all); ends `sink` when done. */
  execToStream(command: string, sink: NodeJS.WritableStream, opts?: Omit<ExecOptions, 'onStdoutLine'>): Promise<StreamResult>;
  /**
   * Closes the pooled connection now (commands still running on it fail): the next command connects again, to the same
   * pinned host key. After a reboot, so a connection that hangs instead of closing is not waited on.
   */
  reset(): void;
}
