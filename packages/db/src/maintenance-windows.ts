import { CronExpressionParser } from 'cron-parser';
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from './client.js';
import { maintenanceWindows, type MaintenanceWindow } from './schema/maintenance-windows.js';
import { servers } from './schema/servers.js';
import { selectorWhere } from './server-selector.js';

/**
 * Maintenance windows (issue #15): when a window is open, and whether a server may be updated now. Read by the API
 * (GET /api/maintenance-windows), the update worker (a job outside its server's windows waits, delayed) and the fleet
 * worker (an update run starts a server only inside one of its windows). cron-parser at BullMQ's version, as for schedules.
 */

export interface WindowTiming {
  cron: string;
  timezone: string;
  durationMin: number;
}

export interface WindowState {
  open: boolean;
  /** While open: when it closes (later if the next opening starts before this one ends); null if its openings chain on past CHAIN_LIMIT. */
  closesAt: Date | null;
  /** When it opens next: `at` itself while open; null if its cron never fires again. */
  nextOpenAt: Date | null;
}

/** Openings followed while a window's openings overlap (a cron firing more often than its duration). */
const CHAIN_LIMIT = 100;

/** Whether the window is open at `at`: the cron's latest firing at or before `at` was less than durationMin ago. */
export function windowStateAt(w: WindowTiming, at: Date = new Date()): WindowState {
  const durationMs = w.durationMin * 60_000;
  // The firing at `at` itself counts: prev() looks strictly before its currentDate.
  const back = CronExpressionParser.parse(w.cron, { tz: w.timezone, currentDate: new Date(at.getTime() + 1) });
  const last = back.hasPrev() ? back.prev().getTime() : null;
  if (last !== null && at.getTime() < last + durationMs) {
    let closes: number | null = last + durationMs;
    const ahead = CronExpressionParser.parse(w.cron, { tz: w.timezone, currentDate: new Date(last) });
    for (let i = 0; ; i++) {
      if (i === CHAIN_LIMIT) {
        closes = null;
        break;
      }
      const next = ahead.hasNext() ? ahead.next().getTime() : null;
      if (next === null || next > closes) break;
      closes = Math.max(closes, next + durationMs);
    }
    return { open: true, closesAt: closes === null ? null : new Date(closes), nextOpenAt: at };
  }
  const ahead = CronExpressionParser.parse(w.cron, { tz: w.timezone, currentDate: at });
  return { open: false, closesAt: null, nextOpenAt: ahead.hasNext() ? new Date(ahead.next().getTime()) : null };
}

/** Where a server that some window selects stands; a server no window selects is absent (it may be updated at any time). */
export type ServerWindows =
  | { open: true; windows: string[]; closesAt: Date | null }
  | { open: false; windows: string[]; nextOpenAt: Date | null; nextWindow: string | null };

/**
 * The windows of each of `serverIds` at `at`, one query per window (an installation has a handful): a server is open
 * when any of its windows is.
 */
export async function serverWindowsAt(db: Pick<Db, 'select'>, serverIds: readonly string[], at: Date = new Date()): Promise<Map<string, ServerWindows>> {
  const out = new Map<string, ServerWindows>();
  if (serverIds.length === 0) return out;
  const windows = await db.select().from(maintenanceWindows).orderBy(maintenanceWindows.name);
  for (const w of windows) {
    const matched = await db
      .select({ id: servers.id })
      .from(servers)
      .where(and(inArray(servers.id, [...serverIds]), selectorWhere(w.selector)));
    if (matched.length === 0) continue;
    const state = stateOf(w, at);
    for (const { id } of matched) out.set(id, merge(out.get(id), w.name, state));
  }
  return out;
}

/** The names of the windows that select a server now (by name): what an operator may not change (docs/SECURITY.md). */
export async function windowsSelecting(db: Pick<Db, 'select'>, serverId: string): Promise<string[]> {
  const windows = await db.select({ name: maintenanceWindows.name, selector: maintenanceWindows.selector }).from(maintenanceWindows).orderBy(maintenanceWindows.name);
  const names: string[] = [];
  for (const w of windows) {
    const [hit] = await db
      .select({ id: servers.id })
      .from(servers)
      .where(and(eq(servers.id, serverId), selectorWhere(w.selector)));
    if (hit) names.push(w.name);
  }
  return names;
}

function stateOf(w: MaintenanceWindow, at: Date): WindowState {
  try {
    return windowStateAt(w, at);
  } catch {
    // Stored windows were validated; one that no longer parses (a cron-parser upgrade) never opens rather than always.
    return { open: false, closesAt: null, nextOpenAt: null };
  }
}

function merge(prev: ServerWindows | undefined, name: string, s: WindowState): ServerWindows {
  const windows = [...(prev?.windows ?? []), name];
  if (s.open) {
    const closesAt = prev?.open && prev.closesAt && s.closesAt && prev.closesAt > s.closesAt ? prev.closesAt : s.closesAt;
    return { open: true, windows, closesAt };
  }
  if (prev?.open) return { ...prev, windows };
  const earlier = prev?.nextOpenAt && (!s.nextOpenAt || prev.nextOpenAt <= s.nextOpenAt);
  return earlier
    ? { open: false, windows, nextOpenAt: prev.nextOpenAt, nextWindow: prev.nextWindow }
    : { open: false, windows, nextOpenAt: s.nextOpenAt, nextWindow: s.nextOpenAt ? name : (prev?.nextWindow ?? null) };
}

/** One line for a log or a run's server: which window a server waits for, and when it opens. */
export function waitingMessage(s: Extract<ServerWindows, { open: false }>): string {
  return s.nextOpenAt && s.nextWindow
    ? `waiting for maintenance window '${s.nextWindow}', which opens at ${s.nextOpenAt.toISOString()}`
    : `outside its maintenance windows (${s.windows.join(', ')}), none of which opens again`;
}
