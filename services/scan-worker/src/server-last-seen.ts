import { eq } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';

export interface LastSeen {
  status: 'online' | 'offline';
  /** Omitted to keep the previous figure (a full scan measures no latency of its own worth keeping). */
  latencyMs?: number | null;
  /** What a full scan read from /etc/os-release (fleet selectors match `os`); omitted by a quick scan, which reads none. */
  os?: { id: string; versionId: string | null } | null;
  /** A full scan's headline facts, for the fleet summary (GET /api/fleet/summary reads them from the server row). */
  facts?: { upgradablePackages: number | null; securityUpdates: number | null; rebootRequired: boolean | null; criticalFindings: number };
}

/** The server's last-seen status, which the server list shows without opening each scan. */
export async function markServerSeen(db: Db, serverId: string, seen: LastSeen): Promise<void> {
  await db
    .update(servers)
    .set({
      lastSeenStatus: seen.status,
      lastSeenAt: new Date(),
      ...(seen.latencyMs !== undefined ? { lastLatencyMs: seen.latencyMs } : {}),
      ...(seen.os !== undefined ? { os: seen.os?.id ?? null, osVersion: seen.os?.versionId ?? null } : {}),
      ...(seen.facts ?? {}),
      updatedAt: new Date(),
    })
    .where(eq(servers.id, serverId));
}
