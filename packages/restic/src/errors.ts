/**
 * What went wrong, in the terms a job needs: whether a retry can help, and which target to name.
 * restic 0.14 exits 1 for every fatal error, so the kind is read from its stderr (bounded, see run-restic.ts).
 */
export type ResticErrorKind =
  | 'unreachable' // network, DNS, TLS handshake, 5xx: retry with backoff
  | 'locked' // another process holds a conflicting lock past our bounded wait: retry later
  | 'wrong-password'
  | 'access-denied'
  | 'no-space'
  | 'not-a-repository'
  | 'already-initialised'
  | 'host-key-mismatch'
  | 'not-found' // a snapshot or a path inside it
  | 'damaged' // the repository's data fails restic's authentication: retrying reads the same bytes
  | 'missing-binary'
  | 'failed';

const RETRYABLE: ReadonlySet<ResticErrorKind> = new Set(['unreachable', 'locked', 'failed']);

export class ResticError extends Error {
  override name = 'ResticError';
  readonly retryable: boolean;
  constructor(
    readonly kind: ResticErrorKind,
    message: string,
    /** The last lines restic printed, secrets excluded (restic prints none: we never hand it any on argv). */
    readonly detail?: string,
  ) {
    super(message);
    this.retryable = RETRYABLE.has(kind);
  }
}

interface Rule {
  kind: ResticErrorKind;
  test: RegExp;
}

// Order matters: a wrong password also prints "unable to open repository", a full disk also "unable to save".
const RULES: Rule[] = [
  { kind: 'wrong-password', test: /wrong password or no key found/i },
  { kind: 'damaged', test: /ciphertext verification failed|decrypting blob .* failed|Pack ID does not match|invalid data returned|hash does not match id/i },
  { kind: 'no-space', test: /no space left on device|disk quota exceeded|file too large/i },
  { kind: 'locked', test: /repository is already locked|unable to create lock in backend/i },
  { kind: 'host-key-mismatch', test: /host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i },
  { kind: 'already-initialised', test: /config file already exists|repository master key and config already initialized/i },
  {
    kind: 'access-denied',
    // S3 answers with a message rather than the code restic 0.14 prints ("The AWS Access Key Id you provided does not
    // exist in our records.", "The request signature we calculated does not match…"); REST with its status; sshd with publickey.
    test: /access ?denied|InvalidAccessKeyId|SignatureDoesNotMatch|Access Key Id you provided does not exist|request signature we calculated does not match|401 Unauthorized|403 Forbidden|permission denied|Permission denied \(publickey/i,
  },
  {
    kind: 'unreachable',
    test: /connection refused|no such host|i\/o timeout|network is unreachable|connection reset|context deadline exceeded|TLS handshake|x509:|\bEOF\b|server response unexpected: 5\d\d|ssh: connect to host|Connection closed|unable to start the sftp session|subprocess ssh: /i,
  },
  {
    kind: 'not-a-repository',
    test: /Is there a repository at the following location|unable to open config file.*(no such file|does not exist|NoSuchKey|NoSuchBucket|404)|bucket does not exist/i,
  },
  { kind: 'not-found', test: /no matching ID found|snapshot .* not found|cannot dump file: path .* not found|path .* not found in snapshot|invalid id/i },
];

/** Maps restic's stderr to an error that names the target and says what to do. */
export function classifyFailure(targetName: string, operation: string, stderr: string, exitCode: number | null): ResticError {
  const detail = lastLines(stderr, 8);
  const kind = RULES.find((r) => r.test.test(stderr))?.kind ?? 'failed';
  const where = `storage target '${targetName}'`;
  const message: Record<ResticErrorKind, string> = {
    unreachable: `${where} is unreachable during ${operation}: ${firstFatal(stderr)}`,
    locked: `${where} is locked by another restic process; ${operation} gave up after its bounded wait and will be retried`,
    'wrong-password': `wrong repository password for ${where}`,
    'access-denied': `access denied by ${where} during ${operation}: check its credentials and permissions`,
    'no-space': `${where} is full: no space left for ${operation}; free space there or move the repository to a larger disk, then retry`,
    'not-a-repository': `${where} holds no restic repository (create the target to initialise it)`,
    'already-initialised': `${where} already holds a restic repository`,
    'host-key-mismatch': `the SSH host key of ${where} does not match its pinned fingerprint`,
    'not-found': `${operation} on ${where}: ${firstFatal(stderr)}`,
    damaged: `${where} holds damaged data (${operation}): ${firstFatal(stderr)}; run a check of the target`,
    'missing-binary': `restic is not installed (apt-get install restic)`,
    failed: `restic ${operation} failed on ${where} (exit ${exitCode ?? 'signal'}): ${firstFatal(stderr)}`,
  };
  return new ResticError(kind, message[kind], detail);
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function firstFatal(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => l.startsWith('Fatal:')) ?? lines.at(-1) ?? 'no output';
  return fatal.length > 300 ? `${fatal.slice(0, 300)}…` : fatal;
}
