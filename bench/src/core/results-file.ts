import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineInfo } from './machine.js';
import type { ScenarioResult } from './scenario.js';

export interface BenchRun {
  startedAt: string;
  finishedAt: string;
  mode: 'quick' | 'full';
  rounds: number;
  command: string;
  machine: MachineInfo;
  scenarios: ScenarioResult[];
}

/** Writes `<dir>/<timestamp>.json`, and `latest.json` too when the run is a complete full run. */
export async function writeResults(dir: string, run: BenchRun, complete: boolean): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${run.startedAt.replaceAll(':', '-')}.json`);
  const text = `${JSON.stringify(run, null, 2)}\n`;
  await writeFile(file, text);
  if (complete && run.mode === 'full') await writeFile(join(dir, 'latest.json'), text);
  return file;
}
