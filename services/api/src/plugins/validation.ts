import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

/**
 * Validates with TypeBox, the same schemas that feed OpenAPI. Query, params and headers are converted
 * from strings first; a body is never coerced, so `"compression": "yes"` is a 400, and unknown body
 * fields fail `additionalProperties: false` instead of being dropped silently.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  // Convert and Default are interpreted walks of the schema: skip them when the input already passes and
  // nothing has a default to fill in (params and headers of most routes, on every request).
  const hasDefaults = JSON.stringify(schema).includes('"default":');
  return (input: unknown) => {
    if (!hasDefaults && check.Check(input)) return { value: input };
    // A body schema with a default (the trigger routes) accepts a request with no body (Fastify passes null).
    const given = (input === undefined || input === null) && schema.default !== undefined ? structuredClone(schema.default as unknown) : input;
    const converted = httpPart === 'body' ? given : Value.Convert(schema, given);
    const value = Value.Default(schema, converted);
    if (check.Check(value)) return { value };
    const error = [...check.Errors(value)].slice(0, 20).map((e) => ({
      instancePath: e.path,
      message: e.message,
      keyword: 'type',
      schemaPath: e.path,
      params: {},
    }));
    return { error };
  };
};
