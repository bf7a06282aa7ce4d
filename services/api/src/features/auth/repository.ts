import { eq } from 'drizzle-orm';
import { users, type Db, type User } from '@mm/db';

/** The user with this (lower-cased) email, or null. */
export async function findUserByEmail(db: Db, email: string): Promise<User | null> {
  const [user] = await db.select().from(users).where(eq(users.email, email));
  return user ?? null;
}
