import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { SshLogger as Logger } from './types.js';
import { Client, type ClientChannel, type ClientErrorExtensions, type ConnectConfig } from 'ssh2';
import { ChannelLimiter } from './channel-limiter.js';
import { HostKeyMismatchError, SshAbortedError, SshAuthError, SshConnectionError, SshError, SshOutputLimitError, SshTimeoutError } from './errors.js';
import { hostKeyFingerprint } from './fingerprint.js';
import { LineSplitter } from './line-splitter.js';
import { killCommand, newMarker, wrapCommand } from './remote-command.js';
import type { ExecOptions, ExecResult, SshTarget, StreamResult } from './types.js';

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** Buffered output (stdout + stderr) one command may print; the biggest real one, a full scan of a large host, is well under 1 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** How long killing a timed-out or aborted command may take before we give up on it (the remote `timeout` is the backstop). */
const KILL_TIMEOUT_MS = 10_000;
/** Retries of a channel open that sshd refused for lack of a free session slot (20 ms doubling: ~5 s in all). */
const OPEN_RETRIES = 8;

export interface ConnectionOptions {
  /** The checked address to connect to (host-policy.ts); `target.host` stays the name used in messages. */
  address: string;
  maxChannels: number;
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  log?: Logger;
}

type SshClientError = Error & ClientErrorExtensions & { code?: string | number };

interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: Buffer[];
  stderr: string;
  bytes: number;
}

function classifyConnectError(err: SshClientError, where: string, username: string): SshError {
  if (err.level === 'client-authentication') return new SshAuthError(`authentication failed for ${username}@${where}`, { cause: err });
  if (err.level === 'client-timeout') return new SshTimeoutError(`timed out connecting to ${where} (no SSH handshake)`, { cause: err });
  const code = typeof err.code === 'string' ? ` (${err.code})` : '';
  return new SshConnectionError(`cannot connect to ${where}${code}: ${err.message}`, { cause: err });
}

function authConfig(target: SshTarget): Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'password'> {
  const c = target.credentials;
  return c.type === 'key' ? { privateKey: c.privateKey, ...(c.passphrase ? { passphrase: c.passphrase } : {}) } : { password: c.password };
}

/** One authenticated SSH connection: host key checked, channels capped, every command killable. */
export class SshConnection {
  private closedError: SshConnectionError | undefined;
  private readonly limiter: ChannelLimiter;
  private readonly closeListeners = new Set<(err: SshConnectionError) => void>();

  private constructor(
    private readonly client: Client,
    readonly fingerprint: string,
    readonly where: string,
    maxChannels: number,
    private readonly log: Logger | undefined,
  ) {
    this.limiter = new ChannelLimiter(maxChannels);
  }

  /** Connects and authenticates. The host key must equal `target.hostKeyFingerprint` when that is set. */
  static open(target: SshTarget, opts: ConnectionOptions): Promise<SshConnection> {
    const where = `${target.host}:${target.port}`;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let presented: string | undefined;
      let connection: SshConnection | undefined;
      let settled = false;
      const settle = (err: SshError | undefined) => {
        if (settled) return;
        settled = true;
        if (err) {
          client.end();
          reject(err);
          return;
        }
        // Small packets (channel open, exec request, EOF) must not wait for the peer's delayed ACK under
        // Nagle's algorithm: with it on, every command on a pooled connection took ~40 ms more (docs/PERFORMANCE.md).
        client.setNoDelay(true);
        connection = new SshConnection(client, presented ?? '', where, opts.maxChannels, opts.log);
        resolve(connection);
      };

      // One permanent listener: an 'error' without a listener would crash the worker process.
      client.on('error', (err: SshClientError) => {
        if (connection) connection.lost(`connection to ${where} failed: ${err.message}`);
        else if (presented && target.hostKeyFingerprint && presented !== target.hostKeyFingerprint) {
          settle(new HostKeyMismatchError(where, target.hostKeyFingerprint, presented));
        } else settle(classifyConnectError(err, where, target.username));
      });
      client.on('close', () => {
        if (connection) connection.lost(`connection to ${where} closed`);
        else settle(new SshConnectionError(`connection to ${where} closed during the handshake`));
      });
      client.once('ready', () => settle(undefined));

      try {
        client.connect({
          host: opts.address,
          port: target.port,
          username: target.username,
          ...authConfig(target),
          tryKeyboard: false,
          readyTimeout: opts.readyTimeoutMs,
          keepaliveInterval: opts.keepaliveIntervalMs,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            presented = hostKeyFingerprint(key);
            return target.hostKeyFingerprint === null || presented === target.hostKeyFingerprint;
          },
        });
      } catch (err) {
        // ssh2 throws synchronously when the key cannot be parsed or needs a passphrase; its message names no secret.
        settle(new SshAuthError(`credentials for ${target.username}@${where} cannot be used: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  get isOpen(): boolean {
    return this.closedError === undefined;
  }

  /** Channels open or waiting for a slot: the pool closes an idle connection only when this is 0. */
  get busy(): number {
    return this.limiter.inUse + this.limiter.queued;
  }

  onClose(listener: (err: SshConnectionError) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(): void {
    this.lost(`connection to ${this.where} closed by the pool`);
    this.client.end();
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const outcome = await this.run(command, opts, undefined);
    return { stdout: Buffer.concat(outcome.stdout).toString('utf8'), stderr: outcome.stderr, code: outcome.code, signal: outcome.signal };
  }

  async execToStream(command: string, sink: NodeJS.WritableStream, opts: Omit<ExecOptions, 'onStdoutLine'> = {}): Promise<StreamResult> {
    const { code, signal, stderr, bytes } = await this.run(command, opts, sink);
    return { code, signal, stderr, bytes };
  }

  private lost(message: string): void {
    if (this.closedError) return;
    this.closedError = new SshConnectionError(message);
    this.limiter.failAll(this.closedError);
    for (const listener of this.closeListeners) listener(this.closedError);
    this.closeListeners.clear();
  }

  /**
   * sshd frees a session slot only in the main-loop turn after it reads our CHANNEL_CLOSE, so an open sent
   * right behind a close can still meet "open failed" at MaxSessions. A short, bounded retry covers that race.
   */
  private async openChannel(command: string): Promise<ClientChannel> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openChannelOnce(command);
      } catch (err) {
        const refusedSlot = err instanceof SshConnectionError && /open failed/.test(err.message);
        if (!refusedSlot || attempt >= OPEN_RETRIES || !this.isOpen) throw err;
        this.log?.debug({ where: this.where, attempt }, 'channel open refused by sshd, retrying');
        await delay(20 * 2 ** attempt);
      }
    }
  }

  private openChannelOnce(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closedError) {
        reject(this.closedError);
        return;
      }
      try {
        this.client.exec(command, (err, channel) => {
          if (err) reject(new SshConnectionError(`cannot open a channel on ${this.where}: ${err.message}`, { cause: err }));
          else resolve(channel);
        });
      } catch (err) {
        reject(new SshConnectionError(`cannot open a channel on ${this.where}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  /**
   * Kills the process group of the command tagged `marker`, on a channel outside the cap: sshd allows 10
   * per connection and the cap is below that, so a kill still gets through when every slot is busy.
   */
  private async killRemote(marker: string): Promise<void> {
    const channel = await this.openChannel(killCommand(marker));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        channel.close();
        resolve();
      }, KILL_TIMEOUT_MS);
      channel.on('data', () => {});
      channel.stderr.on('data', () => {});
      channel.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      channel.end();
    });
  }

  private async run(command: string, opts: ExecOptions, sink: NodeJS.WritableStream | undefined): Promise<Outcome> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const { signal } = opts;
    if (this.closedError) throw this.closedError;
    const release = await this.limiter.acquire(signal);
    const marker = newMarker();
    let channel: ClientChannel;
    const openStarted = performance.now();
    try {
      if (signal?.aborted) throw new SshAbortedError();
      channel = await this.openChannel(wrapCommand(command, marker, timeoutMs));
      opts.onChannelOpen?.(performance.now() - openStarted);
    } catch (err) {
      release();
      throw err;
    }
    const ch = channel;

    return new Promise<Outcome>((resolve, reject) => {
      const outcome: Outcome = { code: null, signal: null, stdout: [], stderr: '', bytes: 0 };
      const stderrChunks: Buffer[] = [];
      // A throwing line callback must not crash the process from inside a stream event: it fails this command.
      const guarded = (callback: ((line: string) => void) | undefined) =>
        callback &&
        new LineSplitter((line) => {
          try {
            callback(line);
          } catch (err) {
            stop(err instanceof Error ? err : new Error(String(err)));
          }
        }, opts.maxLineLength);
      const outLines = guarded(opts.onStdoutLine);
      const errLines = guarded(opts.onStderrLine);
      const maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
      let outputBytes = 0;
      /** Counts buffered output; false once past the limit (the chunk is dropped and the command is being killed). */
      const withinLimit = (chunk: Buffer): boolean => {
        if (stopping) return false;
        outputBytes += chunk.length;
        if (outputBytes <= maxOutputBytes) return true;
        stop(new SshOutputLimitError(maxOutputBytes, this.where));
        return false;
      };
      let stopping: Error | undefined;
      let settled = false;
      // Resolution needs the channel closed, stderr drained and (when streaming) the sink finished.
      let channelClosed = false;
      let stderrEnded = false;
      let sinkDone = sink === undefined;

      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        offClose();
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err);
      };
      const maybeFinish = () => {
        if (settled || stopping || !channelClosed || !stderrEnded || !sinkDone) return;
        settled = true;
        cleanup();
        outLines?.end();
        errLines?.end();
        outcome.stderr = Buffer.concat(stderrChunks).toString('utf8');
        if (outcome.code === null && outcome.signal === null && !this.isOpen) {
          reject(this.closedError ?? new SshConnectionError(`connection to ${this.where} lost while a command ran`));
          return;
        }
        resolve(outcome);
      };
      // Timeout and abort end the REMOTE process, and only then reject, so nothing keeps running behind the error.
      const stop = (err: Error) => {
        if (settled || stopping) return;
        stopping = err;
        counter?.destroy(err);
        // Fallback for hosts without pgrep: sshd delivers TERM to `timeout`, which passes it to its process group.
        ch.signal('TERM');
        this.killRemote(marker)
          .catch((killErr: unknown) => this.log?.warn({ err: killErr, where: this.where }, 'could not kill a remote command'))
          .finally(() => {
            ch.close();
            fail(err);
          });
      };
      const onAbort = () => stop(new SshAbortedError());
      const timer = timeoutMs > 0 ? setTimeout(() => stop(new SshTimeoutError(`ssh command timed out after ${timeoutMs} ms`)), timeoutMs) : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      const offClose = this.onClose((err) => {
        if (!stopping) fail(err);
      });

      // The exit status must come from 'close' (ssh2 repeats it there): for a fast command ssh2 can emit 'exit'
      // in the same packet batch that answers the exec request, before any listener here is attached.
      ch.once('close', (code?: number | null, exitSignal?: string) => {
        outcome.code = typeof code === 'number' ? code : null;
        outcome.signal = typeof exitSignal === 'string' ? exitSignal : null;
        release();
        channelClosed = true;
        maybeFinish();
      });
      const onChannelError = (err: Error) => {
        if (!stopping) stop(new SshConnectionError(`channel on ${this.where} failed: ${err.message}`, { cause: err }));
      };
      ch.on('error', onChannelError);
      ch.stderr.on('error', onChannelError);
      ch.stderr.on('data', (chunk: Buffer) => {
        if (!withinLimit(chunk)) return;
        stderrChunks.push(chunk);
        errLines?.push(chunk);
      });
      ch.stderr.once('end', () => {
        stderrEnded = true;
        maybeFinish();
      });

      let counter: Transform | undefined;
      if (sink) {
        counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            outcome.bytes += chunk.length;
            done(null, chunk);
          },
        });
        pipeline(ch, counter, sink).then(
          () => {
            sinkDone = true;
            maybeFinish();
          },
          (err: unknown) => {
            if (stopping) return;
            // The sink failed (disk full, closed): stop the remote side too.
            stop(err instanceof SshError ? err : new SshConnectionError(`streaming from ${this.where} failed: ${(err as Error).message}`, { cause: err }));
          },
        );
      } else {
        ch.on('data', (chunk: Buffer) => {
          if (!withinLimit(chunk)) return;
          outcome.stdout.push(chunk);
          outLines?.push(chunk);
        });
      }

      const { stdin } = opts;
      if (stdin === undefined) ch.end();
      else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) ch.end(stdin);
      else {
        pipeline(stdin as Readable, ch).catch((err: unknown) => {
          if (!stopping) stop(new SshConnectionError(`writing stdin to ${this.where} failed: ${(err as Error).message}`, { cause: err }));
        });
      }
    });
  }
}
