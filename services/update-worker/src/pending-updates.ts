import { eq } from 'drizzle-orm';
import { servers, type Db } from '@mm/db';
import type { UpdateResult } from './update-result.js';

/**
 * What an update leaves pending, kept on the server row beside the full scan's facts, so GET /api/fleet/summary shows a
 * patched server as patched without waiting for its next full scan: the upgradable packages it did not upgrade (all of
 * them after a dry run), how many of those are security updates where the package manager tells (apt), and whether a
 * reboot is required. Where it cannot tell security updates apart, the count is kept as it was unless nothing is left.
 */
export async function keepPendingUpdates(db: Db, serverId: string, result: UpdateResult): Promise<void> {
  const changed = new Set(result.dryRun ? [] : result.changed.map((c) => c.name));
  const pending = result.upgradable.filter((p) => !changed.has(p.name));
  const securityKnown = result.upgradable.every((p) => p.security !== undefined);
  const security = securityKnown ? pending.filter((p) => p.security).length : pending.length === 0 ? 0 : undefined;
  await db
    .update(servers)
    .set({
      upgradablePackages: pending.length,
      ...(security !== undefined ? { securityUpdates: security } : {}),
      ...(result.rebootRequired !== null ? { rebootRequired: result.rebootRequired } : {}),
      updatedAt: new Date(),
    })
    .where(eq(servers.id, serverId));
}
