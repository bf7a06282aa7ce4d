import { and, arrayContains, arrayOverlaps, inArray, like, not, or, sql, type SQL } from 'drizzle-orm';
import { servers } from './schema/servers.js';

/**
 * A server selector's SQL (issue #15), here because the API (fleet runs, `POST /api/servers/select`, maintenance
 * windows) and the workers that honour maintenance windows must match servers the same way. Its TypeBox schema and
 * query-string form live in the API (services/api/src/shared/server-selector.ts), which validates it before storing.
 */
export interface SelectorCriteria {
  ids?: string[];
  names?: string[];
  tagsAll?: string[];
  tagsAny?: string[];
  labels?: Record<string, string>;
  os?: string | string[];
}
export interface ServerSelector extends SelectorCriteria {
  exclude?: SelectorCriteria;
}

/** A glob (`web-*`, `db-?`) as a LIKE pattern: LIKE's own % and _ and the escape character are escaped first. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

function criteriaWhere(c: SelectorCriteria): SQL {
  const parts: SQL[] = [];
  if (c.ids) parts.push(inArray(servers.id, c.ids));
  // PostgreSQL's LIKE needs no regex engine; names and globs are at most 100 characters.
  if (c.names) parts.push(or(...c.names.map((g) => like(servers.name, globToLike(g)))) as SQL);
  if (c.tagsAll) parts.push(arrayContains(servers.tags, c.tagsAll));
  if (c.tagsAny) parts.push(arrayOverlaps(servers.tags, c.tagsAny));
  if (c.labels && Object.keys(c.labels).length > 0) parts.push(sql`${servers.labels} @> ${JSON.stringify(c.labels)}::jsonb`);
  if (c.os) parts.push(inArray(sql`lower(${servers.os})`, (Array.isArray(c.os) ? c.os : [c.os]).map((o) => o.toLowerCase())));
  return parts.length === 0 ? sql`true` : (and(...parts) as SQL);
}

/** The selector as one WHERE clause on `servers`: its criteria ANDed, minus what `exclude` matches. */
export function selectorWhere(selector: ServerSelector): SQL {
  const { exclude, ...criteria } = selector;
  const where = criteriaWhere(criteria);
  // coalesce: a criterion on a null column (no os yet) is unknown, and NOT unknown would drop the server too.
  return exclude ? (and(where, not(sql`coalesce(${criteriaWhere(exclude)}, false)`)) as SQL) : where;
}
