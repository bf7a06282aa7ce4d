import fc from 'fast-check';

/** The subset of JSON Schema that @fastify/swagger writes into the OpenAPI document from our TypeBox schemas. */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
}

// What attackers type into forms: shell metacharacters, option injection, traversal, SQL, markup, control and bidi characters.
export const INJECTION_STRINGS = [
  '; rm -rf /',
  '$(touch /tmp/mm-hostile-canary)',
  '`touch /tmp/mm-hostile-canary`',
  'a\nb',
  'a\r\nb',
  '--help',
  '-oProxyCommand=touch /tmp/mm-hostile-canary',
  '--checkpoint-action=exec=touch /tmp/mm-hostile-canary',
  '../../../../etc/passwd',
  '/etc/passwd\u0000.txt',
  '\u0000',
  '%00',
  '__proto__',
  'constructor',
  'prototype',
  "' OR '1'='1' --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${process.env.JWT_SECRET}',
  '\u202e\u0301\ufeff',
  '😀'.repeat(64),
  'x'.repeat(5_000),
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...INJECTION_STRINGS),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
);

/** A prototype-pollution attempt as it arrives from the wire: an own `__proto__` / `constructor` key (JSON.parse makes one). */
export const pollutingObject: fc.Arbitrary<unknown> = fc.constantFrom(
  JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown,
  JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}') as unknown,
  JSON.parse('{"a": {"__proto__": {"polluted": "yes"}}}') as unknown,
);

/** Anything that is not what a schema asks for: wrong types, huge and odd strings, deep nesting, polluting keys. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, '', [], {}),
  pollutingObject,
  fc.integer({ min: 50, max: 500 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown),
);

const cap = (n: number | undefined, max: number) => Math.min(n ?? max, max);

/** Values the schema accepts (mostly: a pattern's generator may overshoot maxLength, which the API must then reject cleanly). */
export function fromSchema(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map(fromSchema));
  switch (schema.type) {
    case 'string': {
      if (schema.format === 'uuid') return fc.uuid();
      if (schema.format === 'email') return fc.emailAddress().filter((e) => e.length <= (schema.maxLength ?? 254));
      // RFC 3339 (and schemas/formats.ts) has 4-digit years; toISOString() of a wider date gives `+275760-...`.
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true, min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z') }).map((d) => d.toISOString());
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? Infinity));
      return fc.string({ unit: 'grapheme', minLength: schema.minLength ?? 0, maxLength: Math.max(schema.minLength ?? 0, cap(schema.maxLength, 40)) });
    }
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = schema.items ? fromSchema(schema.items) : fc.jsonValue({ maxDepth: 1 });
      const constraints = { minLength: schema.minItems ?? 0, maxLength: cap(schema.maxItems, 4) };
      return schema.uniqueItems ? fc.uniqueArray(items, { ...constraints, selector: (v) => JSON.stringify(v) }) : fc.array(items, constraints);
    }
    case 'object': {
      const properties = schema.properties ?? {};
      const arbitraries = Object.fromEntries(Object.entries(properties).map(([key, sub]) => [key, fromSchema(sub)]));
      return fc.record(arbitraries, { requiredKeys: (schema.required ?? []).filter((k) => k in properties) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A schema-valid object with one thing wrong: a field dropped, a field of the wrong kind, an unknown or polluting key, or the whole value replaced. */
export function mutated(schema: JsonSchema): fc.Arbitrary<unknown> {
  const keys = Object.keys(schema.properties ?? {});
  return fc.tuple(fromSchema(schema), fc.nat(), hostileValue, fc.constantFrom('drop', 'replace-field', 'extra-key', 'pollute', 'whole')).map(([valid, n, hostile, how]) => {
    if (how === 'whole' || typeof valid !== 'object' || valid === null || Array.isArray(valid)) return hostile;
    const copy: Record<string, unknown> = { ...(valid as Record<string, unknown>) };
    const key = keys.length > 0 ? (keys[n % keys.length] as string) : 'unexpected';
    if (how === 'drop') delete copy[key];
    else if (how === 'replace-field') copy[key] = hostile;
    else if (how === 'extra-key') copy[`x${n % 7}`] = hostile;
    else Object.defineProperty(copy, n % 2 ? '__proto__' : 'constructor', { value: { prototype: { polluted: 'yes' }, polluted: 'yes' }, enumerable: true });
    return copy;
  });
}
