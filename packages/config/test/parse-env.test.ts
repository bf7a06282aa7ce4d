import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { CommonEnv, EnvError, SecretEnv, parseEnv } from '../src/index.js';

const Schema = Type.Object({ ...CommonEnv, ...SecretEnv, PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3000 }) });

describe('parseEnv', () => {
  it('applies defaults and converts numbers in development', () => {
    const env = parseEnv(Schema, { PORT: '8080' });
    expect(env.PORT).toBe(8080);
    expect(env.NODE_ENV).toBe('development');
    expect(env.QUEUE_PREFIX).toBe('bull');
    expect(env.CREDENTIALS_KEY).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names every bad or missing variable in one message', () => {
    const run = () => parseEnv(Schema, { NODE_ENV: 'production', PORT: 'eighty', REDIS_URL: 'http://x', JWT_SECRET: 'x'.repeat(40) });
    expect(run).toThrow(EnvError);
    const message = (() => {
      try {
        run();
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toMatch(/^Invalid environment: /);
    for (const name of ['PORT', 'REDIS_URL', 'CREDENTIALS_KEY is required', 'BACKUP_ENCRYPTION_KEY is required']) expect(message).toContain(name);
    expect(message).not.toContain('JWT_SECRET');
    expect(message).not.toContain('\n');
  });

  it('gives secrets no default in production', () => {
    const key = 'ab'.repeat(32);
    const env = parseEnv(Schema, { NODE_ENV: 'production', JWT_SECRET: 'y'.repeat(40), CREDENTIALS_KEY: key, BACKUP_ENCRYPTION_KEY: key });
    expect(env.CREDENTIALS_KEY).toBe(key);
    expect(() => parseEnv(Schema, { NODE_ENV: 'production', CREDENTIALS_KEY: key, BACKUP_ENCRYPTION_KEY: key })).toThrow(/JWT_SECRET is required/);
  });

  it('treats an empty variable as unset', () => {
    expect(parseEnv(Schema, { PORT: '' }).PORT).toBe(3000);
  });
});

describe('parseEnv: REDIS_CLUSTER', () => {
  it('defaults QUEUE_PREFIX to the {mm} hash tag in cluster mode and takes comma-separated seed nodes', () => {
    const env = parseEnv(Schema, { REDIS_CLUSTER: 'true', REDIS_URL: 'redis://10.0.0.1:7001, redis://10.0.0.2:7002' });
    expect({ cluster: env.REDIS_CLUSTER, prefix: env.QUEUE_PREFIX, url: env.REDIS_URL }).toEqual({ cluster: true, prefix: '{mm}', url: 'redis://10.0.0.1:7001, redis://10.0.0.2:7002' });
    expect(parseEnv(Schema, { REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'prod{mm}' }).QUEUE_PREFIX).toBe('prod{mm}');
    expect(parseEnv(Schema, {}).REDIS_CLUSTER).toBe(false);
  });

  it('refuses a cluster prefix without a hash tag, a bad seed, and several nodes without cluster mode', () => {
    expect(() => parseEnv(Schema, { REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'bull' })).toThrow(/QUEUE_PREFIX must hold a hash tag such as \{mm\}/);
    expect(() => parseEnv(Schema, { REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{}' })).toThrow(/QUEUE_PREFIX must hold a hash tag/);
    expect(() => parseEnv(Schema, { REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7001,http://b:7002' })).toThrow(/seed node that is not a redis:\/\/ URL: "http:\/\/b:7002"/);
    expect(() => parseEnv(Schema, { REDIS_URL: 'redis://a:7001,redis://b:7002' })).toThrow(/REDIS_URL names several nodes: set REDIS_CLUSTER=true/);
    expect(() => parseEnv(Schema, { REDIS_CLUSTER: 'maybe' })).toThrow(/REDIS_CLUSTER/);
  });
});
