import { cpus, totalmem, loadavg } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average at start: a high figure means other work shared the cores. */
  loadAverageAtStart: number;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** Busy and total CPU time of every core so far (os.cpus(), ms): two readings give the machine's busy share between them. */
export function cpuTimes(): { busyMs: number; totalMs: number } {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of cpus()) {
    const total = times.user + times.nice + times.sys + times.irq + times.idle;
    totalMs += total;
    busyMs += total - times.idle;
  }
  return { busyMs, totalMs };
}

/** The busy share (0-1) of all cores between two cpuTimes() readings. */
export const busyShare = (before: { busyMs: number; totalMs: number }, after: { busyMs: number; totalMs: number }): number =>
  after.totalMs > before.totalMs ? (after.busyMs - before.busyMs) / (after.totalMs - before.totalMs) : 0;
