export { SshPool, type SshPoolOptions } from './ssh-pool.js';
export type { SshTarget, SshSession, ExecOptions, ExecResult, StreamResult } from './types.js';
export { SshError, HostKeyMismatchError, SshAuthError, SshPermissionError, SshConnectionError, SshTimeoutError, SshAbortedError } from './errors.js';
export { shellQuote, assertRemotePath, assertPackageName } from './shell-input.js';
export { hostKeyFingerprint } from './fingerprint.js';
export { DEFAULT_EXEC_TIMEOUT_MS } from './ssh-connection.js';
