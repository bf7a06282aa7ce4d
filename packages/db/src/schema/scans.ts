import { boolean, index, integer, pgTable } from 'drizzle-orm/pg-core';
import { scanType } from './enums.js';
import { recordColumns } from './record-columns.js';

export const scans = pgTable(
  'scans',
  {
    ...recordColumns(),
    scanType: scanType('scan_type').notNull(),
    online: boolean('online'),
    latencyMs: integer('latency_ms'),
  },
  (t) => [index('scans_server_created_idx').on(t.serverId, t.createdAt.desc())],
);

export type Scan = typeof scans.$inferSelect;
