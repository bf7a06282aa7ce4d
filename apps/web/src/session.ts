import { api, call, setCsrfToken } from './api.js';

export interface SessionUser {
  id: string;
  email: string;
  role: 'viewer' | 'operator' | 'admin';
}

const RANK = { viewer: 0, operator: 1, admin: 2 } as const;
export const can = (user: SessionUser, role: SessionUser['role']): boolean => RANK[user.role] >= RANK[role];

/** The signed-in user after a reload (the cookie is HttpOnly: only the API can tell), or null. */
export async function resumeSession(): Promise<SessionUser | null> {
  const res = await api.GET('/api/auth/session');
  // No cookie session (csrfToken null only answers a Bearer caller, which this page never is).
  if (!res.data?.data.csrfToken) return null;
  setCsrfToken(res.data.data.csrfToken);
  return res.data.data.user;
}

export async function signIn(email: string, password: string): Promise<SessionUser> {
  const data = await call(api.POST('/api/auth/session', { body: { email, password } }));
  setCsrfToken(data.csrfToken);
  return data.user;
}

export async function signOut(): Promise<void> {
  await api.DELETE('/api/auth/session');
  setCsrfToken(null);
}
