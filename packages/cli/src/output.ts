/** Where a command writes: its data to stdout (JSON with --json), everything else to stderr. */
export class Output {
  constructor(
    readonly json: boolean,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  get isTTY(): boolean {
    return this.stdout.isTTY === true;
  }

  /** The API's data as JSON (--json), or the human rendering. */
  result(data: unknown, human: () => void): void {
    if (this.json) this.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else human();
  }

  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** Diagnostics and progress notes: stderr, so stdout stays the data. */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  table(headers: string[], rows: (string | number | null | undefined)[][]): void {
    const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
    const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
    for (const row of cells) this.line(row.map((c, i) => (i === row.length - 1 ? c : (c ?? '').padEnd(widths[i] ?? 0))).join('  ').trimEnd());
  }

  /** `key: value` lines, aligned. */
  fields(pairs: [string, string | number | boolean | null | undefined][]): void {
    const width = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${`${k}:`.padEnd(width + 1)} ${v === null || v === undefined || v === '' ? '-' : String(v)}`);
  }
}

/** `3m`, `2h`, `4d` from seconds: the age columns. */
export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export const since = (iso: string | null | undefined): string => (iso ? age(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1_000))) : '-');

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1_024 && unit < units.length - 1) {
    value /= 1_024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
