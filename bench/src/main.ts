import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchConfig } from './core/config.js';
import { machineInfo } from './core/machine.js';
import { writeResults, type BenchRun } from './core/results-file.js';
import { NotAvailableError, type ScenarioResult } from './core/scenario.js';
import { msSince } from './core/stats.js';
import { markdownTable, plainTable } from './core/table.js';
import { scenarios } from './scenario-list.js';

const USAGE = `usage: pnpm bench [--quick] [--rounds N] [--scale-out-jobs N] [--backup-mb N] [--profile-dir DIR] [--results-dir DIR] [--markdown] [scenario ...]
scenarios: ${scenarios.map((s) => s.id).join(', ')}`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'scale-out-jobs': { type: 'string' },
    'backup-mb': { type: 'string' },
    'profile-dir': { type: 'string' },
    'results-dir': { type: 'string' },
    markdown: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const unknown = positionals.filter((p) => !scenarios.some((s) => s.id === p));
if (unknown.length) {
  process.stderr.write(`unknown scenario: ${unknown.join(', ')}\n${USAGE}\n`);
  process.exit(2);
}
function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${flag} must be a positive integer\n`);
    process.exit(2);
  }
  return n;
}
const rounds = positiveInteger('rounds', values.rounds);
const scaleOutJobs = positiveInteger('scale-out-jobs', values['scale-out-jobs']);
const backupMb = positiveInteger('backup-mb', values['backup-mb']);

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const config = benchConfig(values.quick, rounds, log, { ...(scaleOutJobs ? { scaleOutJobs } : {}), ...(backupMb ? { backupBytes: backupMb * 1024 * 1024 } : {}), ...(values['profile-dir'] ? { profileDir: values['profile-dir'] } : {}) });
const selected = positionals.length ? scenarios.filter((s) => positionals.includes(s.id)) : scenarios;
const startedAt = new Date().toISOString();
const machine = machineInfo();
const results: ScenarioResult[] = [];
let failures = 0;

for (const scenario of selected) {
  log(`${scenario.id}: ${scenario.title}`);
  const started = process.hrtime.bigint();
  try {
    const { metrics, notes } = await scenario.run(config);
    results.push({ id: scenario.id, title: scenario.title, available: true, metrics, notes, seconds: msSince(started) / 1_000 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (!(err instanceof NotAvailableError)) {
      failures += 1;
      log(`${scenario.id} failed: ${err instanceof Error ? (err.stack ?? reason) : reason}`);
    }
    results.push({ id: scenario.id, title: scenario.title, available: false, reason: err instanceof NotAvailableError ? reason : `failed: ${reason}`, seconds: msSince(started) / 1_000 });
  }
}

const run: BenchRun = {
  startedAt,
  finishedAt: new Date().toISOString(),
  mode: config.quick ? 'quick' : 'full',
  rounds: config.rounds,
  command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  scenarios: results,
};
const dir = values['results-dir'] ?? fileURLToPath(new URL('../results', import.meta.url));
const file = await writeResults(dir, run, selected.length === scenarios.length && failures === 0);
process.stdout.write(`${values.markdown ? markdownTable(results) : plainTable(results)}\n`);
log(`results: ${file}`);
// A scenario that crashed is a failed run: CI and the test must see it, not a table with a hole.
process.exit(failures > 0 ? 1 : 0);
