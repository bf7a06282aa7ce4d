export { SshPool, type SshPoolOptions } from './ssh-pool.js';
export type { SshTarget, SshCredentials, SshLogger, SshSession, ExecOptions, ExecResult, StreamResult } from './types.js';
export { SshError, HostKeyMismatchError, SshAuthError, SshPermissionError, SshConnectionError, SshTimeoutError, SshAbortedError, SshOutputLimitError } from './errors.js';
export { shellQuote, assertRemotePath } from './shell-input.js';
export { hostKeyFingerprint } from './fingerprint.js';
export { DEFAULT_EXEC_TIMEOUT_MS, DEFAULT_MAX_OUTPUT_BYTES } from './ssh-connection.js';
export { DEFAULT_MAX_LINE_LENGTH } from './line-splitter.js';
export {
  checkHost,
  classifyAddress,
  canonicalAddress,
  resolveAllowedAddress,
  deploymentHostPolicy,
  deniedEndpointOfUrl,
  systemLookup,
  HostNotAllowedError,
  STRICT_HOST_POLICY,
  type HostPolicy,
  type DeniedEndpoint,
  type HostCheck,
  type HostLookup,
  type AddressKind,
} from './host-policy.js';
