import pino, { type DestinationStream } from 'pino';

/** Bytes of log lines gathered before one write; a quiet API's lines still go out within FLUSH_MS. */
const MIN_BYTES = 4_096;
const FLUSH_MS = 1_000;

/**
 * Where the API writes its log lines (stdout in production): buffered, so a busy API makes one write syscall per
 * 4 KiB of lines instead of one per request line (writing each line cost ~10 % of the API's CPU on the hot paths,
 * docs/PERFORMANCE.md). Flushed every second, and on exit by pino (lines are not lost when the process ends).
 *
 * The write itself is synchronous, as pino's default destination is: an asynchronous write hands every 4 KiB to
 * libuv's thread pool and back, which cost 8 µs of CPU per line against 3 µs here (docs/PERFORMANCE.md, session 5).
 * The trade-off is pino's own: a log reader that stops reading stalls the API once the pipe is full, where the
 * asynchronous mode would have kept the lines in memory without bound.
 */
export function logDestination(dest: number | string = 1): DestinationStream {
  return pino.destination({ dest, sync: true, minLength: MIN_BYTES, periodicFlush: FLUSH_MS });
}
