import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Uuid } from './schemas.js';

/**
 * Server selectors (issue #15): which servers a fleet run, `POST /api/servers/select` and `GET /api/servers` act on.
 * The schema and its query-string form live here; its one SQL WHERE clause is in @mm/db (workers match servers too).
 */

/** `env`, `region`, `team.example.com/owner`: what an operator writes as a key; bounded so labels stay an index, not a store. */
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$';
const LabelValue = Type.String({ maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), LabelValue, {
  // A pattern-keyed record allows any other key unless told otherwise.
  additionalProperties: false,
  maxProperties: 32,
  description: 'free-form key: value pairs (at most 32; keys 1-63 of A-Z a-z 0-9 . _ / -; values up to 128 characters)',
});
export type Labels = Static<typeof Labels>;

const Tag = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' });
const OsName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', description: 'os-release ID, e.g. debian, ubuntu, alpine, rocky (case-insensitive)' });
const NameGlob = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000]+$', description: 'a glob: * any run of characters, ? one character' });
const list = <T extends TSchema>(item: T, maxItems: number) => Type.Array(item, { minItems: 1, maxItems });

const selectorFields = {
  ids: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: 1_000, uniqueItems: true })),
  names: Type.Optional(list(NameGlob, 50)),
  tagsAll: Type.Optional(list(Tag, 20)),
  tagsAny: Type.Optional(list(Tag, 20)),
  labels: Type.Optional(Labels),
  os: Type.Optional(Type.Union([OsName, list(OsName, 20)])),
};

export const ExcludeSelector = Type.Object(selectorFields, { additionalProperties: false });

/** Every given criterion must hold (AND); within ids, names, tagsAny and os any one entry matches; `{}` selects every server. */
export const Selector = Type.Object(
  { ...selectorFields, exclude: Type.Optional(ExcludeSelector) },
  { additionalProperties: false, description: 'criteria ANDed together; exclude removes the servers it matches' },
);
export type Selector = Static<typeof Selector>;
type Criteria = Omit<Selector, 'exclude'>;

export { globToLike, selectorWhere } from '@mm/db';

// The query-string form: comma-separated lists, labels as `key=value` pairs, `exclude.<field>` for the exclusion.
const QList = (pattern: string, description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 4_000, pattern, description }));
const LIST_OF = (item: string) => `^${item}(,${item})*$`;
const queryFields = (prefix: string) => ({
  [`${prefix}ids`]: QList(LIST_OF('[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'), 'comma-separated server ids'),
  [`${prefix}names`]: QList(LIST_OF('[^,\\u0000]{1,100}'), 'comma-separated name globs'),
  [`${prefix}tagsAll`]: QList(LIST_OF('[A-Za-z0-9][A-Za-z0-9_.-]{0,62}'), 'comma-separated tags, all required'),
  [`${prefix}tagsAny`]: QList(LIST_OF('[A-Za-z0-9][A-Za-z0-9_.-]{0,62}'), 'comma-separated tags, any one'),
  [`${prefix}labels`]: QList(LIST_OF('[A-Za-z0-9][A-Za-z0-9._/-]{0,62}=[^,\\u0000-\\u001f]{0,128}'), 'comma-separated key=value pairs, all required'),
  [`${prefix}os`]: QList(LIST_OF('[A-Za-z0-9._-]{1,64}'), 'comma-separated os-release IDs'),
});
export const selectorQueryFields = { ...queryFields(''), ...queryFields('exclude.') };

function criteriaFromQuery(q: Record<string, unknown>, prefix: string): Criteria {
  const get = (k: string) => (typeof q[prefix + k] === 'string' ? (q[prefix + k] as string).split(',') : undefined);
  const c: Criteria = {};
  const ids = get('ids');
  if (ids) c.ids = [...new Set(ids)];
  const names = get('names');
  if (names) c.names = names;
  const tagsAll = get('tagsAll');
  if (tagsAll) c.tagsAll = tagsAll;
  const tagsAny = get('tagsAny');
  if (tagsAny) c.tagsAny = tagsAny;
  const labels = get('labels');
  if (labels) c.labels = Object.fromEntries(labels.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
  const os = get('os');
  if (os) c.os = os;
  return c;
}

/** The selector a query string (already checked against selectorQueryFields) spells; undefined when it gives none. */
export function selectorFromQuery(q: Record<string, unknown>): Selector | undefined {
  const criteria = criteriaFromQuery(q, '');
  const exclude = criteriaFromQuery(q, 'exclude.');
  const selector: Selector = { ...criteria, ...(Object.keys(exclude).length > 0 ? { exclude } : {}) };
  return Object.keys(selector).length > 0 ? selector : undefined;
}
