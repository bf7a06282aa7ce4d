import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for each newline-terminated line of `stream`; a line longer than `maxLineBytes` is dropped
 * whole (counted in `dropped`) so a hostile or broken repository cannot make the worker buffer without bound.
 */
export function forEachLine(stream: Readable, maxLineBytes: number, onLine: (line: string) => void): { dropped: () => number } {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  let dropped = 0;
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (!skipping && size + piece.length <= maxLineBytes) {
        parts.push(piece);
        onLine(Buffer.concat(parts).toString('utf8'));
      } else dropped++;
      parts = [];
      size = 0;
      skipping = false;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (skipping || rest.length === 0) return;
    if (size + rest.length > maxLineBytes) {
      skipping = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(Buffer.from(rest));
    size += rest.length;
  });
  stream.on('end', () => {
    if (!skipping && size > 0) onLine(Buffer.concat(parts).toString('utf8'));
  });
  return { dropped: () => dropped };
}
