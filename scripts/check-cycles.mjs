#!/usr/bin/env node
// `pnpm cycles`: fails when any TypeScript module in packages/, services/, bench/ or tests/ takes part in an import
// cycle, within a package or across packages. madge resolves `./x.js` to `./x.ts` through the TypeScript config;
// workspace packages (`@mm/db`, `@mm/scan-worker/test-kit`) are mapped to their sources from their package.json
// `exports`, because madge skips whatever resolves into node_modules, and a cycle through another package is a
// cycle all the same. Type-only imports count too: they are the first step to a runtime cycle.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import madge from 'madge';

const root = fileURLToPath(new URL('..', import.meta.url));
const folders = ['packages', 'services', 'bench', 'tests'];

/** `@mm/x` and `@mm/x/sub` -> the source files their package.json exports, as tsconfig `paths`. */
function workspacePaths() {
  const paths = {};
  const packageDirs = folders.flatMap((folder) => {
    const dir = join(root, folder);
    if (!existsSync(dir)) return [];
    if (existsSync(join(dir, 'package.json'))) return [dir];
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  });
  for (const dir of packageDirs) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const exportsMap = typeof pkg.exports === 'string' ? { '.': pkg.exports } : (pkg.exports ?? {});
    for (const [subpath, target] of Object.entries(exportsMap)) {
      const source = typeof target === 'string' ? target : (target.types ?? target.default);
      if (typeof source !== 'string' || !source.endsWith('.ts')) continue;
      paths[subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`] = [relative(root, join(dir, source))];
    }
  }
  return paths;
}

const base = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
const result = await madge(
  folders.map((f) => join(root, f)).filter((dir) => existsSync(dir)),
  {
    baseDir: root,
    fileExtensions: ['ts'],
    excludeRegExp: [/node_modules/, /\/dist\//, /\.d\.ts$/],
    tsConfig: { compilerOptions: { ...base.compilerOptions, baseUrl: root, paths: workspacePaths() } },
  },
);

const cycles = result.circular();
const skipped = result.warnings().skipped;
console.log(`${Object.keys(result.obj()).length} modules read`);
if (skipped.length > 0) console.log(`not resolved (outside the workspace, or missing): ${skipped.join(', ')}`);
if (cycles.length === 0) {
  console.log('no import cycles');
} else {
  console.error(`${cycles.length} import cycle(s):`);
  for (const cycle of cycles) console.error(`  ${[...cycle, cycle[0]].join(' -> ')}`);
  process.exitCode = 1;
}
