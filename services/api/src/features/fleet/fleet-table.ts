import { asc, sql } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';
import { serverSummaries } from '../servers/server-summary.js';
import type { FleetTableRow } from './schemas.js';

/** The most rows one page of GET /api/fleet/servers answers: a 5,000-server fleet in one request (about 1 MB of JSON). */
export const FLEET_TABLE_MAX = 5_000;

// The table shows no next scheduled backup: no schedule is read.
const noSchedules = async () => new Map<string, Date>();

/**
 * The dashboard's fleet table: per server only the columns it shows, ordered by name, so 1,000 servers are one
 * request of three queries (the page of servers with the total, and their summaries in one statement, the same
 * summaries GET /api/servers carries) instead of ten pages of full server views.
 */
export async function fleetTable(db: Db, page: { limit: number; offset: number }): Promise<{ rows: FleetTableRow[]; total: number }> {
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db
      .select({ id: servers.id, name: servers.name, host: servers.host, status: servers.lastSeenStatus, tags: servers.tags })
      .from(servers)
      .orderBy(asc(servers.name), asc(servers.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(servers),
  ]);
  const summaries = await serverSummaries(db, rows.map((r) => r.id), noSchedules);
  // A server deleted between the queries has no summary: it leaves the page, as in GET /api/servers.
  const out = rows.flatMap((r): FleetTableRow[] => {
    const s = summaries.get(r.id);
    if (!s) return [];
    return [
      {
        ...r,
        lastBackup: s.lastBackup ? { finishedAt: s.lastBackup.finishedAt, ageSeconds: s.lastBackup.ageSeconds } : null,
        lastScan: s.lastScan ? { finishedAt: s.lastScan.finishedAt, type: s.lastScan.type, status: s.lastScan.status } : null,
        pendingUpdates: s.upgradablePackages?.count ?? null,
      },
    ];
  });
  return { rows: out, total };
}
