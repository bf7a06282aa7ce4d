/**
 * Reads the headers of a tar stream as it passes (GNU and POSIX formats: ustar prefix, GNU long names `L`/`K`, pax
 * `x` records) without copying file contents, and reports one entry per member. restic stores a `--stdin` backup as
 * one file, so this is how the file listing of a repository backup is known (backup_files).
 */
export interface TarEntry {
  /** Relative to `/`, as in the archive, without a trailing slash. */
  path: string;
  parent: string;
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  size: number;
  mtime: Date | null;
}

const BLOCK = 512;
// A long name or pax header bigger than this is not a path we store (PATH_MAX is 4096): its data is skipped.
const MAX_META_BYTES = 64 * 1024;

type State = { kind: 'header' } | { kind: 'skip'; left: number } | { kind: 'meta'; left: number; pad: number; type: string; parts: Buffer[] };

export class TarListing {
  private state: State = { kind: 'header' };
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private longName: string | undefined;
  private pax: Record<string, string> = {};
  count = 0;

  constructor(private readonly onEntry: (entry: TarEntry) => void) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const state = this.state;
      if (state.kind === 'skip') {
        const n = Math.min(state.left, chunk.length - at);
        state.left -= n;
        at += n;
        if (state.left === 0) this.state = { kind: 'header' };
      } else if (state.kind === 'meta') {
        const n = Math.min(state.left, chunk.length - at);
        if (state.parts.reduce((s, p) => s + p.length, 0) + n <= MAX_META_BYTES) state.parts.push(Buffer.from(chunk.subarray(at, at + n)));
        state.left -= n;
        at += n;
        if (state.left === 0) {
          this.takeMeta(state.type, Buffer.concat(state.parts));
          this.state = state.pad > 0 ? { kind: 'skip', left: state.pad } : { kind: 'header' };
        }
      } else {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.takeHeader(this.header);
        }
      }
    }
  }

  private takeHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      // End of archive (two zero blocks); one zero block alone is padding some writers leave.
      return;
    }
    const size = readNumber(h, 124, 12);
    const type = String.fromCharCode(h[156] ?? 0);
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      this.state = size > 0 ? { kind: 'meta', left: size, pad: Math.ceil(size / BLOCK) * BLOCK - size, type, parts: [] } : { kind: 'header' };
      return;
    }
    const magic = h.toString('latin1', 257, 262);
    const prefix = magic === 'ustar' ? cString(h, 345, 155) : '';
    const rawName = this.pax.path ?? this.longName ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
    const realSize = this.pax.size !== undefined ? Number(this.pax.size) : size;
    const paxMtime = this.pax.mtime !== undefined ? Number(this.pax.mtime) : undefined;
    const mtimeSeconds = paxMtime ?? readNumber(h, 136, 12);
    this.longName = undefined;
    this.pax = {};
    // Every member's data (a file's bytes, a GNU dumpdir's listing) follows its header, padded to whole blocks.
    const skip = Math.ceil(realSize / BLOCK) * BLOCK;
    this.state = skip > 0 ? { kind: 'skip', left: skip } : { kind: 'header' };
    const path = rawName.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (path === '' || path === '.') return;
    const slash = path.lastIndexOf('/');
    this.count++;
    this.onEntry({
      path,
      parent: slash === -1 ? '' : path.slice(0, slash),
      name: slash === -1 ? path : path.slice(slash + 1),
      type: type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' || type === 'D' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'hardlink' : 'other',
      size: type === '0' || type === '\0' || type === '7' ? realSize : 0,
      mtime: Number.isFinite(mtimeSeconds) ? new Date(Math.round(mtimeSeconds * 1000)) : null,
    });
  }

  private takeMeta(type: string, data: Buffer): void {
    if (type === 'L') this.longName = cString(data, 0, data.length);
    else if (type === 'x') this.pax = parsePax(data);
    // 'K' (long link target) and 'g' (global pax) carry nothing the listing keeps.
  }
}

function cString(b: Buffer, start: number, length: number): string {
  const slice = b.subarray(start, start + length);
  const nul = slice.indexOf(0);
  return slice.toString('utf8', 0, nul === -1 ? slice.length : nul);
}

/** Octal, NUL/space terminated, or GNU base-256 when the first byte's high bit is set. */
function readNumber(b: Buffer, start: number, length: number): number {
  const first = b[start] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (b[i] ?? 0);
    return value;
  }
  const text = b.toString('latin1', start, start + length).replace(/[\0 ]+$/g, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** pax records: "<len> <key>=<value>\n". */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number(data.toString('latin1', at, space));
    if (!Number.isSafeInteger(len) || len <= 0 || at + len > data.length) break;
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}
