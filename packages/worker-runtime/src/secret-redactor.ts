const REDACTED = '[redacted]';

// `password=hunter2`, `DB_PASSWORD=x`, `"passphrase": "a b"`, `api_key=...`: the key stays, the value goes.
// A letter may not precede the key (so `OAuth` is not `auth`), an underscore may (`MYSQL_PWD`).
const assignment =
  /(?<![A-Za-z])(password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth)(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"',;&]+)/gi;
const tokenLike: RegExp[] = [
  /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWT
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack
  /\bglpat-[A-Za-z0-9_-]{20,}/g, // GitLab
];
const keyBegin = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
const keyEnd = /-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;

/**
 * Scrubs secrets from remote output before it is stored in the job's log or an error message.
 * Stateful because output arrives line by line and a private key block spans many lines.
 */
export class SecretRedactor {
  private readonly secrets = new Set<string>();
  private inKeyBlock = false;

  /** Exact values to hide (a server's decrypted password, passphrase, private key and each line of it). */
  addSecret(value: string | undefined): void {
    if (!value) return;
    // The value itself, whatever its length: a 3-character password is still a password (issue #12). Short ones
    // blank out matching text in ordinary output too; that is the price of never showing them.
    for (const whole of [value, value.trim()]) if (whole !== '') this.secrets.add(whole);
    const lines = value.split(/\r?\n/);
    if (lines.length < 2) return;
    for (const part of lines) {
      const trimmed = part.trim();
      // Lines of a multi-line value (a private key): short fragments ("-----", "ab") hide nothing worth hiding, and the
      // key block itself is cut by its BEGIN/END lines.
      if (trimmed.length >= 6 && !/^-+(BEGIN|END)/.test(trimmed)) this.secrets.add(trimmed);
    }
  }

  /** Redacts one line of output. */
  line(input: string): string {
    if (this.inKeyBlock) {
      if (keyEnd.test(input)) this.inKeyBlock = false;
      return '[redacted private key]';
    }
    if (keyBegin.test(input)) {
      this.inKeyBlock = !keyEnd.test(input);
      return input.replace(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY[\s\S]*$/, '[redacted private key]');
    }
    return this.text(input);
  }

  /** Redacts free text (an error message) without line state. */
  text(input: string): string {
    let out = input.replace(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)/g, '[redacted private key]');
    // Longest first, so a whole key is replaced before its lines are.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
    out = out.replace(assignment, (_m, key: string, sep: string) => `${key}${sep}${REDACTED}`);
    for (const pattern of tokenLike) out = out.replace(pattern, REDACTED);
    return out;
  }
}
