// Usage: tsx src/report.ts [results.json]  (default: results/latest.json)
// Prints the Markdown that docs/PERFORMANCE.md carries for a run: machine, command, table, per-scenario notes.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BenchRun } from './core/results-file.js';
import { markdownTable } from './core/table.js';

const file = process.argv[2] ?? fileURLToPath(new URL('../results/latest.json', import.meta.url));
const run = JSON.parse(await readFile(file, 'utf8')) as BenchRun;
const m = run.machine;
const minutes = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 60_000;
const lines = [
  `Run ${run.startedAt} (${minutes.toFixed(1)} min, ${run.mode} mode, ${run.rounds} alternating rounds), \`${run.command}\`.`,
  '',
  `Machine: ${m.nproc} vCPU (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}; 1-minute load average at start ${m.loadAverageAtStart}.`,
  '',
  markdownTable(run.scenarios),
  '',
  'Notes per scenario:',
  '',
];
for (const s of run.scenarios) {
  if (!s.available) {
    lines.push(`- **${s.id}** (${s.title}): ${s.reason}.`);
    continue;
  }
  lines.push(`- **${s.id}** (${s.title}, ${s.seconds.toFixed(0)} s): ${s.notes.join(' ')}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
