import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { CommonEnv, EnvError, parseEnv, resolveQueueBackend } from '../src/index.js';

const Schema = Type.Object(CommonEnv);
const PG = 'postgres://postgres@127.0.0.1:5432/mm';

describe('the queue backend switch', () => {
  it('keeps Redis wherever it ran before: REDIS_URL given, DATABASE_URL given, or production', () => {
    expect(resolveQueueBackend({ REDIS_URL: 'redis://10.0.0.5:6379' })).toBe('redis');
    expect(resolveQueueBackend({ DATABASE_URL: PG })).toBe('redis');
    expect(resolveQueueBackend({ NODE_ENV: 'production' })).toBe('redis');
    expect(resolveQueueBackend({ NODE_ENV: 'test', DATABASE_URL: PG, REDIS_URL: '' })).toBe('redis');
  });

  it('picks PostgreSQL in development with neither REDIS_URL nor DATABASE_URL (the zero-setup start)', () => {
    expect(resolveQueueBackend({})).toBe('postgres');
    expect(resolveQueueBackend({ NODE_ENV: 'development', REDIS_URL: '', DATABASE_URL: '' })).toBe('postgres');
    expect(resolveQueueBackend({ NODE_ENV: 'test' })).toBe('postgres');
    expect(resolveQueueBackend({ QUEUE_BACKEND: 'auto' })).toBe('postgres');
    // Either URL given, or production: Redis, as before.
    expect(resolveQueueBackend({ QUEUE_BACKEND: 'auto', REDIS_URL: 'redis://127.0.0.1:6379' })).toBe('redis');
    expect(resolveQueueBackend({ NODE_ENV: 'development', DATABASE_URL: PG })).toBe('redis');
  });

  it('an explicit QUEUE_BACKEND wins over everything', () => {
    expect(resolveQueueBackend({ QUEUE_BACKEND: 'postgres', REDIS_URL: 'redis://x:6379', NODE_ENV: 'production' })).toBe('postgres');
    expect(resolveQueueBackend({ QUEUE_BACKEND: 'redis' })).toBe('redis');
  });

  it('parseEnv resolves unset and auto to a concrete backend, and keeps an explicit one', () => {
    const defaults = parseEnv(Schema, {});
    expect(defaults.QUEUE_BACKEND).toBe('postgres');
    // REDIS_URL still gets its default (unused on PostgreSQL): the rule looked at the raw environment, not at this.
    expect(defaults.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(parseEnv(Schema, { DATABASE_URL: PG }).QUEUE_BACKEND).toBe('redis');
    expect(parseEnv(Schema, { QUEUE_BACKEND: 'auto', REDIS_URL: 'redis://r:6379' }).QUEUE_BACKEND).toBe('redis');
    expect(parseEnv(Schema, { QUEUE_BACKEND: 'postgres', DATABASE_URL: PG }).QUEUE_BACKEND).toBe('postgres');
  });

  it('refuses an unknown backend by name', () => {
    expect(() => parseEnv(Schema, { QUEUE_BACKEND: 'mongodb' })).toThrow(EnvError);
    expect(() => parseEnv(Schema, { QUEUE_BACKEND: 'mongodb' })).toThrow(/QUEUE_BACKEND/);
  });
});
