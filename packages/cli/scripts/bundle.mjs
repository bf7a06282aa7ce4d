// Bundles the CLI and everything it imports (@mm/client, commander, cli-progress, eventsource-parser) into one
// file, dist/mm.mjs, so the packed tarball installs with `npm i -g` and needs no workspace package and no
// dependency download. Run from packages/cli: `node scripts/bundle.mjs`.
import { chmod, rm } from 'node:fs/promises';
import { build } from 'esbuild';

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/mm.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // cli-progress is CommonJS and calls require(); ESM output has none of its own.
  banner: {
    js: ['#!/usr/bin/env node', "import { createRequire as __mmCreateRequire } from 'node:module';", 'const require = __mmCreateRequire(import.meta.url);'].join('\n'),
  },
  logLevel: 'warning',
});
await chmod('dist/mm.mjs', 0o755);
