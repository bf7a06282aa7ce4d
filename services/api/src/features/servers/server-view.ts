import type { Server } from '@mm/db';
import type { ServerView } from './schemas.js';

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
    labels: s.labels,
    os: s.os,
    osVersion: s.osVersion,
    storageTargetId: s.storageTargetId,
    lastSeenStatus: s.lastSeenStatus,
    lastSeenAt: s.lastSeenAt?.toISOString() ?? null,
    lastLatencyMs: s.lastLatencyMs,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}
