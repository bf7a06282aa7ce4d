import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The dashboard's session (apps/web): POST /api/auth/session sets this HttpOnly, SameSite=Strict cookie holding a
 * JWT, on Path=/api so the page's fetches and EventSources send it and no script can read it. It authenticates
 * /api requests that carry no Authorization header; unsafe methods then also need CSRF_HEADER (below).
 */
export const WEB_SESSION_COOKIE = 'mm_session';
export const WEB_SESSION_PATH = '/api';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isSafeMethod = (method: string): boolean => SAFE_METHODS.has(method);

/**
 * The CSRF token of a session: an HMAC of the session JWT under the API's secret (OWASP's "signed double-submit"),
 * so nothing is stored and another site, which can neither read the cookie nor our answers, cannot compute it.
 * The page learns it from POST or GET /api/auth/session and keeps it in memory only.
 */
export function csrfTokenFor(secret: string, sessionJwt: string): string {
  return createHmac('sha256', secret).update(`mm-csrf:${sessionJwt}`).digest('base64url');
}

export function csrfTokenMatches(secret: string, sessionJwt: string, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfTokenFor(secret, sessionJwt));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** One cookie's value out of a Cookie header, without parsing the others (the guard only needs this one). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}
