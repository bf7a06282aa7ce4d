// Bundles one service (src/main.ts and every workspace package and dependency it imports) into
// dist/main.mjs, so `pnpm start` runs plain JavaScript: no TypeScript compiler loaded in the process
// (tsx held ~30 MB of a worker's resident memory; docs/PERFORMANCE.md). Run from a service folder:
// `node ../../scripts/build-service.mjs`.
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL, URL } from 'node:url';
import { build } from 'esbuild';

// pino runs transports (pino-pretty in development) in worker threads from files of its own: a bundle must say
// where they are (https://github.com/pinojs/pino/blob/main/docs/bundling.md).
const fromConfig = createRequire(new URL('../packages/config/package.json', import.meta.url));
const pinoDir = dirname(fromConfig.resolve('pino/package.json'));
const threadStreamDir = dirname(createRequire(join(pinoDir, 'package.json')).resolve('thread-stream/package.json'));
const pinoPaths = {
  'pino-worker': join(pinoDir, 'lib/worker.js'),
  'thread-stream-worker': join(threadStreamDir, 'lib/worker.js'),
  'pino-pretty': fromConfig.resolve('pino-pretty'),
};

// Files that read data beside themselves (`new URL('../migrations', import.meta.url)`) keep their own location.
const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\/(packages|services)\/[^/]+\/src\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Native bindings load at run time when present (ssh2's crypto, copied beside the bundle); the optional ones stay out.
  loader: { '.node': 'copy' },
  external: ['cpu-features', 'msgpackr-extract', 'pino-pretty', '@node-rs/argon2', 'playwright-core'],
  // CommonJS dependencies use require, __filename and __dirname; ESM output has none of its own.
  banner: {
    js: [
      "import { createRequire as __mmCreateRequire } from 'node:module';",
      "import { dirname as __mmDirname } from 'node:path';",
      "import { fileURLToPath as __mmFileURLToPath } from 'node:url';",
      'const require = __mmCreateRequire(import.meta.url);',
      'const __filename = __mmFileURLToPath(import.meta.url);',
      'const __dirname = __mmDirname(__filename);',
      `globalThis.__bundlerPathsOverrides = ${JSON.stringify(pinoPaths)};`,
    ].join(' '),
  },
  plugins: [keepImportMetaUrl],
  logLevel: 'warning',
});
