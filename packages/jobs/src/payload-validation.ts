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

// Compiled once at module load, not per job.
const checks = Object.fromEntries(jobNames.map((name) => [name, TypeCompiler.Compile(catalog[name].payload as TSchema)])) as Record<
  JobName,
  TypeCheck<TSchema>
>;

/** Applies schema defaults to a copy of `data`, then checks it. Returns the typed payload or throws InvalidPayloadError. */
export function validatePayload<N extends JobName>(name: N, data: unknown): PayloadOf<N> {
  const check = checks[name];
  const value = Value.Default(check.Schema(), structuredClone(data));
  if (!check.Check(value)) {
    const details = [...check.Errors(value)].slice(0, 10).map((e) => ({ path: e.path, message: e.message }));
    throw new InvalidPayloadError(name, details);
  }
  return value as PayloadOf<N>;
}
