// ssh2 ships an optional native crypto binding (AES-GCM, ChaCha20-Poly1305 in C). Its install script runs node-gyp,
// which needs this Node's headers: without npm_config_nodedir it tries to download them, fails offline and ssh2
// silently falls back to its JavaScript crypto (several times slower: docs/PERFORMANCE.md). pnpm does not pass a
// nodedir from .npmrc or pnpm-workspace.yaml to node-gyp, and the path differs per machine, so this root postinstall
// checks the binding after every install and, if it is missing, rebuilds ssh2 against the headers of the Node running it.
//   node scripts/ssh2-native-crypto.mjs           check, rebuild if missing (pnpm install runs this)
//   node scripts/ssh2-native-crypto.mjs --check   exit 1 if the binding does not load (CI)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';

// Resolved from @mm/ssh, the package that depends on ssh2.
const require = createRequire(new URL('../packages/ssh/package.json', import.meta.url));
const BINDING = 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node';

function bindingLoads() {
  try {
    require(BINDING);
    return true;
  } catch {
    return false;
  }
}

/** The install prefix of the running Node if its headers are there (Debian's nodejs: /usr, official tarballs, nvm). */
function nodeHeadersPrefix() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), process.config.variables.node_prefix];
  return candidates.find((prefix) => prefix && existsSync(join(prefix, 'include', 'node', 'node.h')));
}

const say = (message) => process.stderr.write(`ssh2 native crypto: ${message}\n`);

if (bindingLoads()) {
  say(`built (${require.resolve(BINDING)})`);
  process.exit(0);
}
if (process.argv.includes('--check')) {
  say('NOT built: ssh2 uses its slow JavaScript crypto. Run `pnpm install --force` (or `node scripts/ssh2-native-crypto.mjs`) with Node headers installed.');
  process.exit(1);
}
const prefix = nodeHeadersPrefix();
if (!prefix) {
  // Not fatal: ssh2 works without it, only slower. Say so loudly instead of silently.
  say(`NOT built: no Node headers under ${dirname(dirname(process.execPath))}/include/node (Debian: apt-get install libnode-dev; or set npm_config_nodedir). ssh2 falls back to slower JavaScript crypto.`);
  process.exit(0);
}
say(`missing; rebuilding ssh2 against the headers in ${prefix}/include/node`);
// npm_execpath is the pnpm running this postinstall: a native binary, or a JavaScript file run by Node.
const execPath = process.env.npm_execpath && existsSync(process.env.npm_execpath) ? process.env.npm_execpath : undefined;
const [command, ...prefixArgs] = !execPath ? ['pnpm'] : /\.[cm]?js$/.test(execPath) ? [process.execPath, execPath] : [execPath];
const rebuilt = spawnSync(command, [...prefixArgs, '--filter', '@mm/ssh', 'rebuild', 'ssh2'], {
  cwd: new URL('..', import.meta.url),
  env: { ...process.env, npm_config_nodedir: prefix },
  stdio: 'inherit',
});
if (rebuilt.error) say(`could not run pnpm: ${rebuilt.error.message}`);
if (!bindingLoads()) {
  say('NOT built even with the headers: see the node-gyp output above. ssh2 falls back to slower JavaScript crypto.');
  process.exit(0);
}
say(`built (${require.resolve(BINDING)})`);
