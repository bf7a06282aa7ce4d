import type { Server } from '@mm/db';
import { ApiError } from '../../shared/errors.js';
import { hasRole, type Role } from '../../shared/roles.js';

/** The fields of a PATCH that decide whose change it is. */
export interface ServerChange {
  host?: string | undefined;
  port?: number | undefined;
  username?: string | undefined;
  auth?: unknown;
  hostKeyFingerprint?: string | null | undefined;
}

/**
 * Stored credentials never follow a server somewhere else (issue #12): a new host, port or username needs fresh
 * `auth` in the same request (400), and host-key pins are admin business (403): setting, changing or clearing
 * `hostKeyFingerprint`, and moving a pinned server (which resets its pin). Returns whether the server moves.
 */
export function checkServerChange(current: Pick<Server, 'host' | 'port' | 'username' | 'hostKeyFingerprint'>, change: ServerChange, role: Role): { moved: boolean } {
  const moved = (change.host !== undefined && change.host !== current.host) || (change.port !== undefined && change.port !== current.port);
  const newUser = change.username !== undefined && change.username !== current.username;
  if ((moved || newUser) && change.auth === undefined) {
    throw new ApiError(
      'VALIDATION_ERROR',
      'Changing host, port or username needs a fresh auth in the same request: stored credentials are never sent to another host or user.',
      [{ path: '/auth', message: 'required when host, port or username changes' }],
    );
  }
  if (hasRole(role, 'admin')) return { moved };
  if (change.hostKeyFingerprint !== undefined && change.hostKeyFingerprint !== current.hostKeyFingerprint) {
    throw new ApiError('FORBIDDEN', 'Setting, changing or clearing hostKeyFingerprint needs the admin role.');
  }
  if (moved && current.hostKeyFingerprint !== null && change.hostKeyFingerprint === undefined) {
    throw new ApiError('FORBIDDEN', "Moving a server whose host key is pinned resets the pin; that needs the admin role.");
  }
  return { moved };
}
