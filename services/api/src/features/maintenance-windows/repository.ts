import { asc, eq, sql } from 'drizzle-orm';
import { maintenanceWindows, selectorWhere, servers, windowStateAt, type Db, type MaintenanceWindow } from '@mm/db';
import type { Selector } from '../../shared/server-selector.js';
import type { WindowView } from './schemas.js';

export interface WindowInput {
  name: string;
  cron: string;
  durationMin: number;
  timezone: string;
  selector: Selector;
  userId: string;
}

async function viewOf(db: Db, w: MaintenanceWindow, at: Date): Promise<WindowView> {
  const [count] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(servers).where(selectorWhere(w.selector));
  const state = windowStateAt(w, at);
  return {
    name: w.name,
    cron: w.cron,
    durationMin: w.durationMin,
    timezone: w.timezone,
    selector: w.selector,
    open: state.open,
    closesAt: state.closesAt?.toISOString() ?? null,
    nextOpenAt: state.nextOpenAt?.toISOString() ?? null,
    servers: count?.n ?? 0,
    createdBy: w.createdBy,
    createdAt: w.createdAt.toISOString(),
    updatedAt: w.updatedAt.toISOString(),
  };
}

export async function listWindows(db: Db, at = new Date()): Promise<WindowView[]> {
  const rows = await db.select().from(maintenanceWindows).orderBy(asc(maintenanceWindows.name));
  return Promise.all(rows.map((w) => viewOf(db, w, at)));
}

export async function findWindow(db: Db, name: string, at = new Date()): Promise<WindowView | null> {
  const [row] = await db.select().from(maintenanceWindows).where(eq(maintenanceWindows.name, name));
  return row ? viewOf(db, row, at) : null;
}

export async function countWindows(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(maintenanceWindows);
  return row?.n ?? 0;
}

/** Creates or replaces the window; `created` says which (201 or 200). */
export async function upsertWindow(db: Db, w: WindowInput): Promise<{ view: WindowView; created: boolean }> {
  const now = new Date();
  const [row] = await db
    .insert(maintenanceWindows)
    .values({ name: w.name, cron: w.cron, durationMin: w.durationMin, timezone: w.timezone, selector: w.selector, createdBy: w.userId })
    .onConflictDoUpdate({
      target: maintenanceWindows.name,
      set: { cron: w.cron, durationMin: w.durationMin, timezone: w.timezone, selector: w.selector, updatedAt: now },
    })
    .returning();
  if (!row) throw new Error('maintenance window upsert returned no row');
  return { view: await viewOf(db, row, now), created: row.updatedAt.getTime() === row.createdAt.getTime() };
}

export async function deleteWindow(db: Db, name: string): Promise<boolean> {
  const rows = await db.delete(maintenanceWindows).where(eq(maintenanceWindows.name, name)).returning({ name: maintenanceWindows.name });
  return rows.length > 0;
}
