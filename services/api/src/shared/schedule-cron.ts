import { CronExpressionParser } from 'cron-parser';
import { ApiError } from './errors.js';

/**
 * Cron expressions are read by cron-parser, at the version BullMQ itself depends on, so the run times the API shows
 * are the ones BullMQ's job scheduler fires at (its defaultRepeatStrategy is `CronExpressionParser.parse(pattern, { tz })`).
 */

/** How many upcoming runs the min-interval check looks at: enough to catch a burst such as `0,1 * * * *`. */
const INTERVAL_SAMPLE = 20;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const invalid = (path: string, message: string) => new ApiError('VALIDATION_ERROR', message, [{ path, message }]);

/** The next `count` run times of `cron` in `timezone` after `from`; throws cron-parser's error for a bad expression. */
export function nextRuns(cron: string, timezone: string, count: number, from: Date = new Date()): Date[] {
  const interval = CronExpressionParser.parse(cron, { tz: timezone, currentDate: from });
  const out: Date[] = [];
  for (let i = 0; i < count && interval.hasNext(); i++) out.push(new Date(interval.next().getTime()));
  return out;
}

/**
 * Checks a schedule as the API stores it: a valid IANA zone, a cron expression BullMQ accepts (5 fields, or 6 with
 * seconds first), that fires at least once, and no two runs closer than `minIntervalSeconds`.
 * Throws VALIDATION_ERROR with the reason.
 */
export function assertValidSchedule(cron: string, timezone: string, minIntervalSeconds: number, now: Date = new Date()): void {
  if (!isTimeZone(timezone)) throw invalid('/timezone', `"${timezone}" is not an IANA time zone (for example "UTC" or "Europe/Berlin").`);
  let runs: Date[];
  try {
    runs = nextRuns(cron, timezone, INTERVAL_SAMPLE, now);
  } catch (err) {
    throw invalid('/cron', `Invalid cron expression: ${(err as Error).message}.`);
  }
  if (runs.length === 0) throw invalid('/cron', 'The cron expression never fires.');
  for (let i = 1; i < runs.length; i++) {
    const gap = ((runs[i] as Date).getTime() - (runs[i - 1] as Date).getTime()) / 1_000;
    if (gap < minIntervalSeconds) {
      throw invalid('/cron', `The schedule runs every ${gap} s; the minimum interval is ${minIntervalSeconds} s (SCHEDULE_MIN_INTERVAL_S).`);
    }
  }
}
