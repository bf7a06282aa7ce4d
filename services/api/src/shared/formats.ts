import { FormatRegistry } from '@sinclair/typebox';

// TypeBox rejects values of a format it does not know, so the formats our schemas use are registered once here.
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function registerFormats(): void {
  // No NUL: PostgreSQL text cannot hold it (the query would fail), and no real address has one.
  if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', (v) => EMAIL.test(v) && !v.includes('\0'));
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v));
  if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));
}
