import type { CachedUser, UserCache } from './user-cache.js';
import type { Role } from './roles.js';

/**
 * Browsers send no Authorization header on page loads, so the dashboard under /admin is guarded by a
 * cookie holding the same JWT: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * makes the browser send it, which is the CSRF defence for bull-board's POST/PUT actions), Path=/admin
 * (never sent to /api, where only the Bearer header counts), Secure outside development and tests.
 */
export const SESSION_COOKIE = 'mm_admin_session';
export const SESSION_PATH = '/admin';

/** The user behind the session cookie, re-read through the user cache (a deleted user or changed role counts within seconds). */
export async function sessionUser(
  token: string | undefined,
  verify: (token: string) => { sub: string; role: Role },
  users: Pick<UserCache, 'get'>,
): Promise<CachedUser | null> {
  if (!token) return null;
  let sub: string;
  try {
    sub = verify(token).sub;
  } catch {
    return null;
  }
  return users.get(sub);
}
