/**
 * The worker streams at most ~20 output lines a second per job live and says so for each gap with a warning line
 * (`… 12 output lines not streamed live; GET /api/jobs/<id>/logs has every line`, packages/worker-runtime
 * job-log-events.ts). A package manager's output makes dozens of them; the timestamped-line output shows one note at
 * most every NOTE_INTERVAL_MS per job, with the lines counted since the last, and the rest when the job ends.
 */
export const NOTE_INTERVAL_MS = 5_000;

// Anchored, with a bounded digit run and no nested quantifiers: linear on any line a worker relays.
const MARKER = /^… (\d{1,15}) output lines? not streamed live;/;

/** The count a gap marker reports, or undefined for any other line. */
export function liveGapOf(line: string): number | undefined {
  const match = MARKER.exec(line);
  return match ? Number(match[1]) : undefined;
}

export interface LiveGapNotes {
  /** A warning line: true when it was a gap marker (counted; `say` is called if a note is due), false otherwise. */
  take(line: string): boolean;
  /** The job ended: a note for any lines counted since the last one. */
  flush(): void;
}

/** One job's gap notes; `say` prints a warning line, `now` is the clock (ms). */
export function createLiveGapNotes(jobId: string, say: (text: string) => void, now: () => number = Date.now): LiveGapNotes {
  let pending = 0;
  let total = 0;
  let lastNoteAt: number | undefined;
  const note = (final: boolean) => {
    const lines = `${pending} output line${pending === 1 ? '' : 's'}`;
    const so = pending === total ? '' : ` (${total} ${final ? 'in all' : 'so far'})`;
    say(`… ${lines} not streamed live${so}; GET /api/jobs/${jobId}/logs has every line`);
    pending = 0;
    lastNoteAt = now();
  };
  return {
    take(line) {
      const count = liveGapOf(line);
      if (count === undefined) return false;
      pending += count;
      total += count;
      if (lastNoteAt === undefined || now() - lastNoteAt >= NOTE_INTERVAL_MS) note(false);
      return true;
    },
    flush() {
      if (pending > 0) note(true);
    },
  };
}
