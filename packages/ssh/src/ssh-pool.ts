import { createHash } from 'node:crypto';
import type { SshLogger as Logger } from './types.js';
import { HostKeyMismatchError, SshError } from './errors.js';
import { resolveAllowedAddress, STRICT_HOST_POLICY, systemLookup, type HostLookup, type HostPolicy } from './host-policy.js';
import { SshConnection } from './ssh-connection.js';
import type { ExecOptions, SshSession, SshTarget } from './types.js';

export interface SshPoolOptions {
  /** Channels open at once per connection. sshd's MaxSessions default is 10; the rest wait for a free one. Default 8. */
  maxChannelsPerConnection?: number;
  /** Close a connection after this long without any command. Default 30_000. */
  idleTimeoutMs?: number;
  /** SSH keepalive; 3 unanswered ones drop the connection. Default 15_000. */
  keepaliveIntervalMs?: number;
  /** Connect + handshake + auth limit. Default 20_000. */
  readyTimeoutMs?: number;
  /** Which addresses may be connected to; default: no loopback, no deny list. Checked on every connect, on the resolved address. */
  hostPolicy?: HostPolicy;
  /** Name resolution (tests simulate DNS answers); default: the system resolver. */
  lookup?: HostLookup;
  log?: Logger;
}

interface Entry {
  /** Host, port, user and a hash of the credentials: a server edited in the meantime gets a new connection. */
  identity: string;
  connecting: Promise<SshConnection>;
  connection: SshConnection | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

function identityOf(target: SshTarget): string {
  const credentials = createHash('sha256').update(JSON.stringify(target.credentials)).digest('hex');
  return `${target.username}@${target.host}:${target.port}#${credentials}`;
}

/**
 * One SSH connection per server (keyed by server id) inside a worker process, reused by every job on it.
 * A connection that drops is discarded; the next command reconnects.
 */
export class SshPool {
  private readonly entries = new Map<string, Entry>();
  private readonly maxChannels: number;
  private readonly idleTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  private readonly readyTimeoutMs: number;
  private readonly log: Logger | undefined;
  private readonly hostPolicy: HostPolicy;
  private readonly lookup: HostLookup;
  private closed = false;

  constructor(opts: SshPoolOptions = {}) {
    this.maxChannels = opts.maxChannelsPerConnection ?? 8;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
    this.keepaliveIntervalMs = opts.keepaliveIntervalMs ?? 15_000;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
    this.log = opts.log;
    this.hostPolicy = opts.hostPolicy ?? STRICT_HOST_POLICY;
    this.lookup = opts.lookup ?? systemLookup;
  }

  /** Whether `key` has an established connection that a session would reuse (no TCP connect, no handshake). */
  hasOpenConnection(key: string): boolean {
    return this.entries.get(key)?.connection?.isOpen === true;
  }

  /**
   * The address `host` resolves to now, checked against the pool's host policy (HostNotAllowedError otherwise): for
   * anything else that touches a server's address (a TCP probe) under the same rule as the SSH connect.
   */
  allowedAddress(host: string, port: number): Promise<string> {
    return resolveAllowedAddress(host, port, this.hostPolicy, this.lookup);
  }

  /** Connections open or being opened. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Connects (or reuses the connection) and returns a session bound to `key`. With a null pin the first
   * fingerprint seen is kept for this session's reconnects; the caller persists `session.hostKeyFingerprint`.
   */
  async session(key: string, target: SshTarget): Promise<SshSession> {
    const connection = await this.connection(key, target);
    const pinned: SshTarget = { ...target, hostKeyFingerprint: connection.fingerprint };
    const fresh = () => this.connection(key, pinned);
    const discard = () => this.discard(key);
    return {
      hostKeyFingerprint: connection.fingerprint,
      async exec(command: string, opts?: ExecOptions) {
        return (await fresh()).exec(command, opts);
      },
      async execToStream(command, sink, opts) {
        return (await fresh()).execToStream(command, sink, opts);
      },
      reset() {
        discard();
      },
    };
  }

  /** Closes every connection. Idempotent; commands still running fail with SshConnectionError. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map(async (entry) => {
        clearTimeout(entry.idleTimer);
        const connection = await entry.connecting.catch(() => undefined);
        connection?.close();
      }),
    );
  }

  private async connection(key: string, target: SshTarget): Promise<SshConnection> {
    if (this.closed) throw new SshError('ssh pool is closed', false);
    const identity = identityOf(target);
    let entry = this.entries.get(key);
    if (entry && entry.identity !== identity) {
      // The server's address or credentials changed: let running commands finish on the old connection.
      this.retire(key, entry);
      entry = undefined;
    }
    if (!entry) entry = this.open(key, target, identity);
    const connection = await entry.connecting;
    if (target.hostKeyFingerprint !== null && connection.fingerprint !== target.hostKeyFingerprint) {
      throw new HostKeyMismatchError(`${target.host}:${target.port}`, target.hostKeyFingerprint, connection.fingerprint);
    }
    this.touch(key, entry);
    return connection;
  }

  private open(key: string, target: SshTarget, identity: string): Entry {
    // Resolve once, check, then connect to that very address: a second DNS answer is never consulted.
    const connecting = resolveAllowedAddress(target.host, target.port, this.hostPolicy, this.lookup).then((address) =>
      SshConnection.open(target, { address, ...this.connectionOptions() }),
    );
    const entry: Entry = { identity, connecting, connection: undefined, idleTimer: undefined };
    this.entries.set(key, entry);
    entry.connecting.then(
      (connection) => {
        entry.connection = connection;
        this.log?.debug({ serverId: key, host: target.host, port: target.port }, 'ssh connected');
        connection.onClose(() => {
          clearTimeout(entry.idleTimer);
          if (this.entries.get(key) === entry) this.entries.delete(key);
          this.log?.debug({ serverId: key }, 'ssh connection closed');
        });
        // The pool may have been closed while this connection was being opened.
        if (this.closed) connection.close();
      },
      () => {
        // A failed connect leaves nothing behind: the next call tries again.
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry;
  }

  /** Restarts the idle timer; it only closes the connection when no command is running or waiting. */
  private touch(key: string, entry: Entry): void {
    clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      const connection = entry.connection;
      if (!connection) return;
      if (connection.busy > 0) {
        this.touch(key, entry);
        return;
      }
      if (this.entries.get(key) === entry) this.entries.delete(key);
      connection.close();
    }, this.idleTimeoutMs);
    // An idle connection must not keep a finished process alive.
    entry.idleTimer.unref();
  }

  /** Drops `key`'s connection at once, whatever runs on it. */
  private discard(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    clearTimeout(entry.idleTimer);
    entry.connecting.then((connection) => connection.close(), () => {});
  }

  private retire(key: string, entry: Entry): void {
    this.entries.delete(key);
    clearTimeout(entry.idleTimer);
    const closeWhenIdle = (connection: SshConnection) => {
      if (connection.busy === 0 || !connection.isOpen) connection.close();
      else setTimeout(() => closeWhenIdle(connection), 1_000).unref();
    };
    entry.connecting.then(closeWhenIdle, () => {});
  }

  private connectionOptions() {
    return {
      maxChannels: this.maxChannels,
      readyTimeoutMs: this.readyTimeoutMs,
      keepaliveIntervalMs: this.keepaliveIntervalMs,
      ...(this.log ? { log: this.log } : {}),
    };
  }
}
