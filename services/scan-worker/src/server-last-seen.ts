import { eq } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';

export interface LastSeen {
  status: 'online' | 'offline';
  /** Omitted to keep the previous figure (a full scan measures no latency of its own worth keeping). */
  latencyMs?: number | null;
}

/** The server's last-seen status, which the server list shows without opening each scan. */
export async function markServerSeen(db: Db, serverId: string, seen: LastSeen): Promise<void> {
  await db
    .update(servers)
    .set({
      lastSeenStatus: seen.status,
      lastSeenAt: new Date(),
      ...(seen.latencyMs !== undefined ? { lastLatencyMs: seen.latencyMs } : {}),
      updatedAt: new Date(),
    })
    .where(eq(servers.id, serverId));
}
