import { sql } from 'drizzle-orm';
import { users, type Db } from '@mm/db';
import type { Logger } from '@mm/config';
import { hashPassword } from '../../shared/passwords.js';

/**
 * Creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD when the users table is empty.
 * Inserting with a `where not exists` makes two API processes starting together create one admin.
 */
export async function seedAdmin(db: Db, admin: { email?: string; password?: string }, log: Logger): Promise<'created' | 'exists' | 'skipped'> {
  const [{ count } = { count: 0 }] = await db.select({ count: sql<number>`count(*)::int` }).from(users);
  if (count > 0) return 'exists';
  if (!admin.email || !admin.password) {
    log.warn({}, 'the users table is empty and ADMIN_EMAIL / ADMIN_PASSWORD are not set: nobody can log in');
    return 'skipped';
  }
  const email = admin.email.toLowerCase();
  const passwordHash = await hashPassword(admin.password);
  const inserted = await db.execute(
    sql`insert into ${users} (email, password_hash, role) select ${email}, ${passwordHash}, 'admin' where not exists (select 1 from ${users})`,
  );
  const created = inserted.count > 0;
  if (created) log.info({ email }, 'first admin created');
  return created ? 'created' : 'exists';
}
