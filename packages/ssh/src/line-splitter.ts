import { StringDecoder } from 'node:string_decoder';

/** Longest line handed on, in UTF-16 code units; a remote host that never prints a newline cannot grow a buffer past it. */
export const DEFAULT_MAX_LINE_LENGTH = 16_384;

/**
 * Turns a chunked byte stream into whole lines (UTF-8 safe across chunk borders, CRLF tolerated). A line longer than
 * `maxLineLength` is handed on cut, with a marker, and the rest of it is dropped up to the next newline.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  /** Inside an over-long line whose cut head was already emitted: drop until the next newline. */
  private skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength = DEFAULT_MAX_LINE_LENGTH,
  ) {}

  push(chunk: Buffer): void {
    this.pending += this.decoder.write(chunk);
    let newline = this.pending.indexOf('\n');
    while (newline !== -1) {
      const line = this.pending.slice(0, newline);
      this.pending = this.pending.slice(newline + 1);
      if (this.skipping) this.skipping = false;
      else this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
      newline = this.pending.indexOf('\n');
    }
    if (this.pending.length > this.maxLineLength) {
      if (!this.skipping) this.emit(this.pending);
      this.skipping = true;
      this.pending = '';
    }
  }

  /** Emits a last line that had no trailing newline. */
  end(): void {
    this.pending += this.decoder.end();
    if (this.pending.length > 0 && !this.skipping) this.emit(this.pending.endsWith('\r') ? this.pending.slice(0, -1) : this.pending);
    this.pending = '';
    this.skipping = false;
  }

  private emit(line: string): void {
    this.onLine(line.length > this.maxLineLength ? `${line.slice(0, this.maxLineLength)} [line cut at ${this.maxLineLength} characters]` : line);
  }
}
