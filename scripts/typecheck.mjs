#!/usr/bin/env node
// `pnpm typecheck`: each workspace package's tsconfig.json, checked with as few `tsc` programs as give the same
// answers. A package's sources are imported as TypeScript by the packages that depend on it, so one `tsc -p` per
// package re-checked services/api and the shared packages once per importer (22 programs, about 275 s of CPU).
// Packages whose tsconfig.json only extends tsconfig.base.json and lists what it includes share one program made
// of exactly those includes; a package with compiler options of its own (apps/web: DOM, JSX, bundler resolution)
// keeps its own program.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const ts = require('typescript');
const tsc = require.resolve('typescript/bin/tsc');
const base = join(root, 'tsconfig.base.json');

/** Package folders named by pnpm-workspace.yaml's `packages:` globs (`dir` or `dir/*`). */
function workspaceDirs() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs = [];
  for (const line of yaml.slice(yaml.indexOf('packages:')).split('\n').slice(1)) {
    const match = /^\s+-\s+['"]?([^'"\s]+)['"]?\s*$/.exec(line);
    if (!match) break;
    globs.push(match[1]);
  }
  return globs.flatMap((glob) => {
    if (!glob.endsWith('/*')) return [join(root, glob)];
    const parent = join(root, glob.slice(0, -2));
    if (!existsSync(parent)) return [];
    return readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(parent, d.name)).sort();
  });
}

const shared = [];
const own = [];
for (const dir of workspaceDirs()) {
  const file = join(dir, 'tsconfig.json');
  if (!existsSync(file)) continue;
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const keys = Object.keys(config).sort().join(',');
  const extendsBase = typeof config.extends === 'string' && resolve(dir, config.extends) === base;
  if (extendsBase && keys === 'extends,include') shared.push({ dir, include: config.include });
  else own.push(file);
}

const cacheDir = join(root, 'node_modules', '.cache', 'mm-typecheck');
mkdirSync(cacheDir, { recursive: true });
const sharedConfig = join(cacheDir, 'tsconfig.json');
writeFileSync(
  sharedConfig,
  `${JSON.stringify({ extends: base, include: shared.flatMap(({ dir, include }) => include.map((pattern) => join(dir, pattern))) }, null, 2)}\n`,
);

let failed = false;
for (const [label, project] of [[`${shared.length} packages sharing tsconfig.base.json`, sharedConfig], ...own.map((file) => [relative(root, file), file])]) {
  console.log(`tsc -p ${label}`);
  const { status, signal } = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (status !== 0) {
    console.error(`tsc -p ${label}: ${signal ?? `exit ${status}`}`);
    failed = true;
  }
}
if (failed) process.exitCode = 1;
