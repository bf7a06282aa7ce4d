import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable } from 'drizzle-orm/pg-core';
import { scanType } from './enums.js';
import { recordColumns } from './record-columns.js';
import { historyIndexes, newestFirst } from './history-indexes.js';

export const scans = pgTable(
  'scans',
  {
    ...recordColumns(),
    scanType: scanType('scan_type').notNull(),
    online: boolean('online'),
    latencyMs: integer('latency_ms'),
  },
  (t) => [
    ...historyIndexes('scans', t),
    // The server summary's upgradable count: the newest completed full scan, without walking the quick scans after it.
    index('scans_server_full_done_idx')
      .on(t.serverId, newestFirst(t.createdAt), newestFirst(t.id))
      .where(sql`${t.scanType} = 'full' and ${t.status} = 'completed'`),
  ],
);

export type Scan = typeof scans.$inferSelect;
