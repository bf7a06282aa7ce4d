import { ApiError } from '../../shared/errors.js';

/** The position after the last item of a page: its exact created_at (microseconds since the epoch, as PostgreSQL stores it) and id. */
export interface Cursor {
  micros: bigint;
  id: string;
}

/** 8 bytes of microseconds and the 16 bytes of the id, base64url: every 32-character string the schema admits decodes. */
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]{32}$';

// The instants PostgreSQL and JavaScript can both write as ISO 8601 with a four-digit year.
const MIN_MICROS = BigInt(Date.parse('0001-01-01T00:00:00.000Z')) * 1000n;
const MAX_MICROS = BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * 1000n + 999n;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** ISO 8601 with a four-digit year and fields in range; parseDateTime rejects what still is no date (2026-02-30). */
export const DATE_TIME_PATTERN = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$';

export const invalid = (path: string, message: string) => new ApiError('VALIDATION_ERROR', message, [{ path, message }]);

export function encodeCursor(cursor: Cursor): string {
  const bytes = Buffer.alloc(24);
  bytes.writeBigInt64BE(cursor.micros, 0);
  Buffer.from(cursor.id.replace(/-/g, ''), 'hex').copy(bytes, 8);
  return bytes.toString('base64url');
}

const CURSOR = new RegExp(CURSOR_PATTERN);

/**
 * The position a client sends back. A time beyond what a record can hold is clamped to the nearest one: no record
 * lies beyond it, so the page is the same, and PostgreSQL never sees a timestamp it cannot read.
 */
export function decodeCursor(value: string): Cursor {
  const bytes = CURSOR.test(value) ? Buffer.from(value, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== 24) throw invalid('/cursor', 'The cursor is not valid; pass meta.nextCursor from the previous page unchanged.');
  const raw = bytes.readBigInt64BE(0);
  const micros = raw < MIN_MICROS ? MIN_MICROS : raw > MAX_MICROS ? MAX_MICROS : raw;
  const hex = bytes.subarray(8).toString('hex');
  return { micros, id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

/** Microseconds since the epoch as ISO 8601, all six digits kept (a JavaScript Date holds only milliseconds). */
export function microsToIso(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const rest = micros - ms * 1000n;
  return new Date(Number(ms)).toISOString().replace('Z', `${rest.toString().padStart(3, '0')}Z`);
}

/**
 * An ISO 8601 date-time that names a real instant PostgreSQL can store, as microseconds since the epoch. The pattern
 * alone lets 2026-02-30 and 24:00 through (JavaScript reads both as the next day), and an offset can move year 0001 to 0000.
 */
export function parseDateTime(value: string, path: string): bigint {
  const m = DATE_TIME.exec(value);
  const [year, month, day, hour, minute, second] = (m ?? []).slice(1, 7).map(Number) as number[];
  const daysInMonth = m && month! >= 1 && month! <= 12 ? new Date(Date.UTC(2000, month!, 0)).getUTCDate() - (month === 2 && !isLeap(year!) ? 1 : 0) : 0;
  const inRange = day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second! <= 59;
  const ms = m && inRange ? Date.parse(value.replace(/\.\d+/, '')) : Number.NaN;
  // Digits past the sixth are below PostgreSQL's resolution: dropped.
  const micros = Number.isNaN(ms) ? null : BigInt(ms) * 1000n + BigInt(((m?.[7] ?? '.').slice(1) + '000000').slice(0, 6));
  if (micros === null || micros < MIN_MICROS || micros > MAX_MICROS) {
    throw invalid(path, `${path.slice(1)} is not a valid date-time (ISO 8601 between years 0001 and 9999, e.g. 2026-01-31T00:00:00Z).`);
  }
  return micros;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * The uuid range a job-id prefix covers (`3f2a`, `3f2a9c1e-77`, or a whole id), or null when `q` cannot be one.
 * A range on the primary key uses its index; `id::text LIKE 'x%'` would not.
 */
export function jobIdRange(q: string): { lo: string; hi: string } | null {
  const text = q.toLowerCase();
  if (!/^[0-9a-f-]+$/.test(text)) return null;
  const hex = text.replace(/-/g, '');
  if (hex.length === 0 || hex.length > 32) return null;
  const format = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  // The hyphens, if any, must stand where a uuid has them.
  if (format(hex.padEnd(32, '0')).slice(0, text.length) !== text) return null;
  return { lo: format(hex.padEnd(32, '0')), hi: format(hex.padEnd(32, 'f')) };
}
