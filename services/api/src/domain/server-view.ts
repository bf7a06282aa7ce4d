import type { Server } from '@mm/db';
import type { ServerView } from '../schemas/servers.js';

export function toServerView(s: Server): ServerView {
  return {
    id: s.id,
    name: s.name,
    host: s.host,
    port: s.port,
    username: s.username,
    authType: s.authType,
    hostKeyFingerprint: s.hostKeyFingerprint,
    backupPaths: s.backupPaths,
    tags: s.tags,
    lastSeenStatus: s.lastSeenStatus,
    lastSeenAt: s.lastSeenAt?.toISOString() ?? null,
    lastLatencyMs: s.lastLatencyMs,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}
