import type { Db } from '@mm/db';
import { findUserByEmail } from './repository.js';
import { dummyPasswordHash, verifyPassword } from '../../shared/passwords.js';
import type { CachedUser } from '../../shared/user-cache.js';

/** The user an email and password belong to, or null; an unknown email costs as long as a wrong password. */
export async function authenticate(db: Db, email: string, password: string): Promise<CachedUser | null> {
  const user = await findUserByEmail(db, email.toLowerCase());
  const valid = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
  return user && valid ? { id: user.id, email: user.email, role: user.role } : null;
}
