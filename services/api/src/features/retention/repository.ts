import { eq } from 'drizzle-orm';
import { retentionPolicies, type Db, type RetentionPolicy } from '@mm/db';

export type RetentionValues = Omit<typeof retentionPolicies.$inferInsert, 'serverId'>;

export async function findRetentionPolicy(db: Db, serverId: string): Promise<RetentionPolicy | undefined> {
  const [row] = await db.select().from(retentionPolicies).where(eq(retentionPolicies.serverId, serverId));
  return row;
}

/** Replaces the server's policy (one row per server). */
export async function putRetentionPolicy(db: Db, serverId: string, values: RetentionValues): Promise<RetentionPolicy | undefined> {
  const [row] = await db
    .insert(retentionPolicies)
    .values({ serverId, ...values })
    .onConflictDoUpdate({ target: retentionPolicies.serverId, set: values })
    .returning();
  return row;
}

export async function deleteRetentionPolicy(db: Db, serverId: string): Promise<void> {
  await db.delete(retentionPolicies).where(eq(retentionPolicies.serverId, serverId));
}
