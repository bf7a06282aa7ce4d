/**
 * Which backups a retention policy keeps (docs/API.md, "Retention and cleanup"). Pure: the cleanup handler loads the
 * rows and deletes what this returns. Days and ISO weeks are UTC calendar days and weeks of the backup's finish time.
 */
export interface RetentionRules {
  keepLast: number | null;
  keepDaily: number | null;
  keepWeekly: number | null;
  keepMonthly?: number | null;
  keepYearly?: number | null;
}

export interface RetentionCandidate {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  baseBackupId: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

const dayKey = (d: Date) => d.toISOString().slice(0, 10);

/** ISO 8601 week, e.g. "2026-W48": weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const timeOf = (b: RetentionCandidate) => (b.finishedAt ?? b.createdAt).getTime();

/** Keeps the newest backup of each of the newest `count` distinct periods that have one. */
function keepPerPeriod(completed: RetentionCandidate[], count: number | null, key: (d: Date) => string, keep: Set<string>): void {
  if (!count) return;
  const seen = new Set<string>();
  for (const b of completed) {
    const k = key(new Date(timeOf(b)));
    if (seen.has(k)) continue;
    if (seen.size >= count) return;
    seen.add(k);
    keep.add(b.id);
  }
}

/**
 * The ids to delete: completed backups outside the union of the rules (never a full that a kept incremental builds on,
 * never the only completed one), and failed or cancelled records older than the oldest kept backup. Pending and
 * running records are never touched, nor the base chain of a running incremental. `protectedIds` (e.g. in an active restore's chain) are kept with their bases.
 */
export function planRetention(rows: RetentionCandidate[], rules: RetentionRules, protectedIds: ReadonlySet<string> = new Set()): string[] {
  const completed = rows.filter((b) => b.status === 'completed').sort((a, b) => timeOf(b) - timeOf(a) || (a.id < b.id ? 1 : -1));
  if (completed.length === 0) return [];
  const keep = new Set<string>(completed.slice(0, rules.keepLast ?? 0).map((b) => b.id));
  keepPerPeriod(completed, rules.keepDaily, dayKey, keep);
  keepPerPeriod(completed, rules.keepWeekly, isoWeekKey, keep);
  keepPerPeriod(completed, rules.keepMonthly ?? null, (d) => d.toISOString().slice(0, 7), keep);
  keepPerPeriod(completed, rules.keepYearly ?? null, (d) => d.toISOString().slice(0, 4), keep);
  for (const id of protectedIds) if (rows.some((b) => b.id === id)) keep.add(id);
  // A backup still running builds on its base: keep that (and, below, its chain).
  for (const b of rows) if ((b.status === 'pending' || b.status === 'running') && b.baseBackupId !== null) keep.add(b.baseBackupId);
  if (![...keep].some((id) => completed.some((b) => b.id === id))) keep.add((completed[0] as RetentionCandidate).id);

  // An incremental restores only on top of its base chain: keep every ancestor of a kept backup.
  const byId = new Map(rows.map((b) => [b.id, b]));
  for (const id of [...keep]) {
    let base = byId.get(id)?.baseBackupId ?? null;
    while (base !== null && byId.has(base) && !keep.has(base)) {
      keep.add(base);
      base = byId.get(base)?.baseBackupId ?? null;
    }
  }

  const oldestKept = Math.min(...completed.filter((b) => keep.has(b.id)).map(timeOf));
  return rows
    .filter((b) => {
      if (keep.has(b.id)) return false;
      if (b.status === 'completed') return true;
      return (b.status === 'failed' || b.status === 'cancelled') && timeOf(b) < oldestKept;
    })
    .map((b) => b.id);
}
