import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { catalog, jobNames } from '../src/catalog.js';
import { InvalidPayloadError, fillsPassingValues, validatePayload } from '../src/payload-validation.js';

describe('validatePayload', () => {
  it('returns a payload that passes and that no default could change as it is, without a copy', () => {
    const payload = { serverId: randomUUID(), scanId: randomUUID(), userId: null };
    expect(fillsPassingValues(catalog['scan:quick'].payload)).toBe(false);
    expect(validatePayload('scan:quick', payload)).toBe(payload);
  });

  it('fills defaults into a copy, leaving the caller’s object untouched', () => {
    const options = {} as never;
    const payload = { serverId: randomUUID(), updateId: randomUUID(), userId: null, options };
    const value = validatePayload('update:server', payload);
    expect(value).not.toBe(payload);
    expect(value.options).toMatchObject({ dry_run: false });
    expect(options).toEqual({});
  });

  it('still rejects what fails the schema on the fast path', () => {
    expect(() => validatePayload('scan:quick', { serverId: 'x', scanId: randomUUID(), userId: null })).toThrow(/serverId/);
    expect(() => validatePayload('scan:quick', { serverId: randomUUID(), scanId: randomUUID(), userId: null, password: 'p' })).toThrow(InvalidPayloadError);
  });
});

describe('fillsPassingValues', () => {
  it('is false when every default sits under a required property', () => {
    expect(fillsPassingValues(Type.Object({ a: Type.Object({ b: Type.Boolean({ default: true }) }) }))).toBe(false);
  });

  it('is true for a default under an optional property, at any depth, in unions and in array items', () => {
    expect(fillsPassingValues(Type.Object({ a: Type.Optional(Type.Boolean({ default: true })) }))).toBe(true);
    expect(fillsPassingValues(Type.Object({ a: Type.Optional(Type.Object({ b: Type.String({ default: 'x' }) })) }))).toBe(true);
    expect(fillsPassingValues(Type.Object({ a: Type.Union([Type.Null(), Type.Object({ b: Type.Optional(Type.Integer({ default: 1 })) })]) }))).toBe(true);
    expect(fillsPassingValues(Type.Array(Type.Object({ b: Type.Integer({ default: 1 }) })))).toBe(true);
  });

  it('knows each catalog job: the fast path is taken exactly where no default can apply to a passing payload', () => {
    const fills = Object.fromEntries(jobNames.map((name) => [name, fillsPassingValues(catalog[name].payload)]));
    // Every default in today's catalog sits under a required property (backup options, update dry_run).
    expect(Object.values(fills).every((f) => f === false), JSON.stringify(fills)).toBe(true);
    expect(Object.keys(fills)).toEqual([...jobNames]);
  });
});
