import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { catalog, jobNames, type JobName, type PayloadOf } from './catalog.js';

/** A payload that does not match its job's schema. Never retried: the same data fails the same way. */
export class InvalidPayloadError extends Error {
  override name = 'InvalidPayloadError';
  constructor(
    readonly jobName: string,
    readonly details: { path: string; message: string }[],
  ) {
    super(`invalid payload for ${jobName}: ${details.map((d) => `${d.path || '/'} ${d.message}`).join('; ')}`);
  }
}

/**
 * Whether `Value.Default` could change a value that already passes the schema: only a default under a property that
 * may be absent (one that is required must be there to pass). Anything it cannot rule out counts as yes.
 */
export function fillsPassingValues(schema: unknown, optional = false): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const node = schema as Record<string, unknown>;
  if (optional && 'default' in node) return true;
  const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
  const properties = typeof node.properties === 'object' && node.properties !== null ? Object.entries(node.properties) : [];
  if (properties.some(([key, sub]) => fillsPassingValues(sub, optional || !required.has(key)))) return true;
  for (const key of ['anyOf', 'allOf', 'oneOf', 'items', 'additionalProperties', 'patternProperties', 'not', 'if', 'then', 'else']) {
    const sub = node[key];
    const subs = Array.isArray(sub) ? sub : key === 'patternProperties' && typeof sub === 'object' && sub !== null ? Object.values(sub) : [sub];
    // Array items and pattern properties may be absent too.
    const mayBeAbsent = optional || key === 'items' || key === 'additionalProperties' || key === 'patternProperties';
    if (subs.some((s) => fillsPassingValues(s, mayBeAbsent))) return true;
  }
  return false;
}

// Compiled once at module load, not per job; so is whether a passing payload may still take a default.
const checks = Object.fromEntries(
  jobNames.map((name) => {
    const schema = catalog[name].payload as TSchema;
    return [name, { check: TypeCompiler.Compile(schema), fills: fillsPassingValues(schema) }];
  }),
) as Record<JobName, { check: TypeCheck<TSchema>; fills: boolean }>;

/**
 * Applies schema defaults to a copy of `data`, then checks it. Returns the typed payload or throws InvalidPayloadError.
 * A payload that already passes and that no default could change (the trigger routes build them whole) is returned as
 * it is, with no copy: the producer's hot path.
 */
export function validatePayload<N extends JobName>(name: N, data: unknown): PayloadOf<N> {
  const { check, fills } = checks[name];
  if (!fills && check.Check(data)) return data as PayloadOf<N>;
  const value = Value.Default(check.Schema(), structuredClone(data));
  if (!check.Check(value)) {
    const details = [...check.Errors(value)].slice(0, 10).map((e) => ({ path: e.path, message: e.message }));
    throw new InvalidPayloadError(name, details);
  }
  return value as PayloadOf<N>;
}
