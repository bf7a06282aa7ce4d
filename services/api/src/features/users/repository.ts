import { and, desc, eq, ne, sql } from 'drizzle-orm';
import { users, type Db, type User } from '@mm/db';
import type { Role } from '../../shared/roles.js';

/** The new user, or null when the email is taken. */
export async function insertUser(db: Db, values: { email: string; passwordHash: string; role: Role }): Promise<User | null> {
  const [created] = await db.insert(users).values(values).onConflictDoNothing({ target: users.email }).returning();
  return created ?? null;
}

export async function listUsers(db: Db, limit: number, offset: number): Promise<{ rows: User[]; total: number }> {
  const [rows, [{ total } = { total: 0 }]] = await Promise.all([
    db.select().from(users).orderBy(desc(users.createdAt), desc(users.id)).limit(limit).offset(offset),
    db.select({ total: sql<number>`count(*)::int` }).from(users),
  ]);
  return { rows, total };
}

export type DeleteUserOutcome = { deleted: User } | { refused: 'not-found' | 'last-admin' };

/** Deletes a user unless it is the last admin; row locks on the other admins keep two concurrent deletes from removing the last two. */
export async function deleteUser(db: Db, id: string): Promise<DeleteUserOutcome> {
  return db.transaction(async (tx) => {
    const [target] = await tx.select().from(users).where(eq(users.id, id)).for('update');
    if (!target) return { refused: 'not-found' as const };
    if (target.role === 'admin') {
      const others = await tx.select({ id: users.id }).from(users).where(and(eq(users.role, 'admin'), ne(users.id, id))).for('update');
      if (others.length === 0) return { refused: 'last-admin' as const };
    }
    await tx.delete(users).where(eq(users.id, id));
    return { deleted: target };
  });
}
