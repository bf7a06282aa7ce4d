import { ApiError } from '../../shared/errors.js';

/** `<at, ISO 8601 in ms>_<id>`: every string this matches decodes (years 0001-9999, as PostgreSQL's), so the schema alone says what a cursor is. */
export const AUDIT_CURSOR_PATTERN =
  '^(000[1-9]|00[1-9]\\d|0[1-9]\\d{2}|[1-9]\\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d\\.\\d{3}Z_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const CURSOR = new RegExp(AUDIT_CURSOR_PATTERN);

export interface AuditCursor {
  at: Date;
  id: string;
}

/** The keyset position after a page: the (at, id) of its last entry. */
export const encodeAuditCursor = ({ at, id }: AuditCursor): string => `${at.toISOString()}_${id}`;

export function decodeAuditCursor(cursor: string): AuditCursor {
  const [stamp = '', id = ''] = cursor.split('_');
  const at = new Date(stamp);
  if (Number.isNaN(at.getTime()) || !CURSOR.test(cursor)) {
    throw new ApiError('VALIDATION_ERROR', 'The cursor is not valid; pass meta.nextCursor from the previous page.', [{ path: '/cursor', message: 'is not a cursor' }]);
  }
  return { at, id };
}
