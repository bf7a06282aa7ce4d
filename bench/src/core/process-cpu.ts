import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU counters (USER_HZ); 100 on every Linux this bench runs on. */
const TICK_MICROS = 1_000_000 / ticksPerSecond();

function ticksPerSecond(): number {
  try {
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return hz > 0 ? hz : 100;
  } catch {
    return 100;
  }
}

/** utime, stime, cutime, cstime of a /proc/<pid>/stat line, in ticks (the command name may hold spaces and parens). */
function statTicks(stat: string): [number, number, number, number] {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]), Number(fields[12]), Number(fields[13]), Number(fields[14])];
}

/**
 * CPU time (µs) used so far by every process whose command name is one of `names`, on Linux; undefined elsewhere.
 * Only what is running now counts: a process that ended between two readings drops out (the services measured here,
 * redis-server and PostgreSQL's backends on a pooled connection, live through a run).
 */
export function cpuOfProcesses(names: readonly string[]): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const pid of pids) {
    try {
      if (!names.includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())) continue;
      const [utime, stime] = statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      ticks += utime + stime;
    } catch {
      // The process ended while the list was read.
    }
  }
  return ticks * TICK_MICROS;
}

/** CPU time (µs) of this process's children that have ended and been waited for (a load generator, once it exits). */
export function endedChildrenCpu(): number | undefined {
  try {
    const [, , cutime, cstime] = statTicks(readFileSync('/proc/self/stat', 'utf8'));
    return (cutime + cstime) * TICK_MICROS;
  } catch {
    return undefined;
  }
}
