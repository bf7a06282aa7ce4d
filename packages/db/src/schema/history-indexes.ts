import { index, type ExtraConfigColumn } from 'drizzle-orm/pg-core';

type RecordTable = Record<'id' | 'serverId' | 'status' | 'createdAt' | 'error', ExtraConfigColumn>;

// DESC NULLS FIRST is what a plain `ORDER BY created_at DESC, id DESC` means; drizzle's `.desc()` alone emits
// DESC NULLS LAST, an order the planner cannot read those queries from (it sorts the whole table instead).
export const newestFirst = (c: ExtraConfigColumn) => c.desc().nullsFirst();

/**
 * The indexes GET /api/history and the server summary page through: newest first by (created_at, id), alone,
 * per server and per status, plus a trigram index so `q` finds text inside errors (the extension: 0001_history_search.sql).
 */
export function historyIndexes(table: string, t: RecordTable) {
  return [
    index(`${table}_created_idx`).on(newestFirst(t.createdAt), newestFirst(t.id)),
    index(`${table}_server_created_idx`).on(t.serverId, newestFirst(t.createdAt), newestFirst(t.id)),
    index(`${table}_status_created_idx`).on(t.status, newestFirst(t.createdAt), newestFirst(t.id)),
    index(`${table}_error_trgm_idx`).using('gin', t.error.op('gin_trgm_ops')),
  ];
}
