import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Thrown when nothing answers on the server's SSH port. Retryable: servers come back. */
export class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError';
}

/**
 * Opens and closes one TCP connection; resolves with the connect time in milliseconds (sub-millisecond
 * precision). This is the network round trip the latency figures report, apart from SSH's own handshake.
 */
export function probeTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host, port, timeout: timeoutMs, signal });
    const fail = (reason: string) => {
      socket.destroy();
      reject(new ServerUnreachableError(`${host}:${port} is unreachable: ${reason}`));
    };
    socket.once('connect', () => {
      const elapsed = performance.now() - started;
      socket.destroy();
      resolve(elapsed);
    });
    socket.once('timeout', () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
  });
}
