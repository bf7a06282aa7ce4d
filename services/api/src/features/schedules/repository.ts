import { and, asc, eq } from 'drizzle-orm';
import { backupSchedules, type BackupSchedule, type Db } from '@mm/db';

export type NewSchedule = typeof backupSchedules.$inferInsert;
export type ScheduleChanges = Pick<NewSchedule, 'cron' | 'timezone' | 'options' | 'enabled' | 'storageTargetId' | 'rpoSeconds' | 'updatedAt'>;

const ofServer = (serverId: string, scheduleId: string) => and(eq(backupSchedules.id, scheduleId), eq(backupSchedules.serverId, serverId));

export async function insertSchedule(db: Db, values: NewSchedule): Promise<BackupSchedule> {
  const [row] = await db.insert(backupSchedules).values(values).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

/** A server's schedules, oldest first. */
export async function listSchedules(db: Db, serverId: string): Promise<BackupSchedule[]> {
  return db.select().from(backupSchedules).where(eq(backupSchedules.serverId, serverId)).orderBy(asc(backupSchedules.createdAt), asc(backupSchedules.id));
}

export async function findSchedule(db: Db, serverId: string, scheduleId: string): Promise<BackupSchedule | null> {
  const [row] = await db.select().from(backupSchedules).where(ofServer(serverId, scheduleId));
  return row ?? null;
}

export async function updateSchedule(db: Db, serverId: string, scheduleId: string, changes: ScheduleChanges): Promise<BackupSchedule | null> {
  const [row] = await db.update(backupSchedules).set(changes).where(ofServer(serverId, scheduleId)).returning();
  return row ?? null;
}

/** True when the schedule existed and is gone. */
export async function deleteSchedule(db: Db, serverId: string, scheduleId: string): Promise<boolean> {
  const rows = await db.delete(backupSchedules).where(ofServer(serverId, scheduleId)).returning({ id: backupSchedules.id });
  return rows.length > 0;
}
