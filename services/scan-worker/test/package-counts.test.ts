import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseFullScanOutput } from '../src/full-scan/parse-output.js';
import { FULL_SCAN_SCRIPT } from '../src/full-scan/script.js';

// The full scan's package counts on an RPM host: the real script, run by /bin/sh with dnf, yum and rpm replaced by
// scripts that print what those tools print (`-q -C check-update` exits 100 when it lists updates). This machine is
// Debian, so the PATH holds only the tools the script needs and the fakes: dpkg-query and apt are not found.

const run = promisify(execFile);

/** Tools the script uses besides the package managers. */
const TOOLS = ['awk', 'cat', 'cut', 'df', 'grep', 'head', 'nproc', 'sed', 'sort', 'tail', 'tr', 'uname', 'wc'];

/** `dnf -q -C check-update` on a Rocky Linux 9 host: a blank line, one update per line, then obsoletes. */
const CHECK_UPDATE = `
curl.x86_64                              7.76.1-29.el9_4.1                appstream
libcurl.x86_64                           7.76.1-29.el9_4.1                baseos
openssl.x86_64                           1:3.0.7-28.el9_4                 baseos
openssl-libs.x86_64                      1:3.0.7-28.el9_4                 baseos
Obsoleting Packages
grub2-tools.x86_64                       1:2.06-80.el9_4                  baseos
    grub2-tools.x86_64                   1:2.06-77.el9                    @anaconda
`;

/** `dnf -q -C updateinfo list --security`: advisory, severity, package; one advisory may name several packages. */
const SECURITY = `RLSA-2024:3306 Moderate/Sec.  curl-7.76.1-29.el9_4.1.x86_64
RLSA-2024:3306 Moderate/Sec.  libcurl-7.76.1-29.el9_4.1.x86_64
RLSA-2024:4324 Important/Sec. openssl-1:3.0.7-28.el9_4.x86_64
RLSA-2024:4999 Important/Sec. openssl-1:3.0.7-28.el9_4.x86_64
`;

let toolPaths: string[];
let bin: string;

beforeAll(async () => {
  toolPaths = await Promise.all(TOOLS.map(async (tool) => (await run('/bin/sh', ['-c', `command -v ${tool}`])).stdout.trim()));
});

beforeEach(async () => {
  bin = await mkdtemp(join(tmpdir(), 'mm-scan-rpm-'));
  for (const [i, tool] of TOOLS.entries()) await symlink(toolPaths[i] as string, join(bin, tool));
  await fake('rpm', `printf 'bash-5.1.8-9.el9.x86_64\\ncurl-7.76.1-26.el9.x86_64\\nopenssl-3.0.7-27.el9.x86_64\\n'`);
});

afterEach(async () => {
  await rm(bin, { recursive: true, force: true });
});

async function fake(name: string, body: string): Promise<void> {
  await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(bin, name), 0o755);
}

/** A package manager whose two listings print `checkUpdate` (exit `checkExit`) and `security` (exit `securityExit`). */
async function fakeManager(name: 'dnf' | 'yum', { checkUpdate = CHECK_UPDATE, checkExit = 100, security = SECURITY, securityExit = 0 } = {}): Promise<void> {
  await writeFile(join(bin, `${name}.check-update`), checkUpdate);
  await writeFile(join(bin, `${name}.security`), security);
  await fake(
    name,
    `case "$*" in
  *check-update*) cat "${bin}/${name}.check-update"; exit ${checkExit} ;;
  *"updateinfo list --security"*) cat "${bin}/${name}.security"; exit ${securityExit} ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`,
  );
}

async function packages() {
  const { stdout } = await run('/bin/sh', ['-c', FULL_SCAN_SCRIPT], { env: { PATH: bin }, maxBuffer: 8 * 1024 * 1024 });
  return parseFullScanOutput(stdout, new Date());
}

describe('full scan package counts on dnf and yum hosts', () => {
  it('counts installed, upgradable (not the obsoletes) and packages named by security advisories', async () => {
    await fakeManager('dnf');
    const result = await packages();
    // Four advisory lines name three packages: one advisory names two, and openssl is in two advisories.
    expect(result.packages).toEqual({ manager: 'dnf', installed: 3, upgradable: 4, security: 3 });
    expect(result.notes.some((n) => n.includes('upgradable count is from the package index as it was'))).toBe(true);
  });

  it('says the security count is unknown when the cache holds no advisories, not zero', async () => {
    await fakeManager('dnf', { security: '', securityExit: 1 });
    expect((await packages()).packages).toEqual({ manager: 'dnf', installed: 3, upgradable: 4, security: null });
  });

  it('reports zero of each when check-update lists nothing (exit 0)', async () => {
    await fakeManager('dnf', { checkUpdate: '', checkExit: 0, security: '' });
    expect((await packages()).packages).toEqual({ manager: 'dnf', installed: 3, upgradable: 0, security: 0 });
  });

  it('leaves both counts unknown, with a note, when check-update fails (no metadata cache)', async () => {
    await fakeManager('dnf', { checkUpdate: 'Error: Cache-only enabled but no cache for baseos', checkExit: 1 });
    const result = await packages();
    expect(result.packages).toEqual({ manager: 'dnf', installed: 3, upgradable: null, security: null });
    expect(result.notes.some((n) => n.includes('dnf check-update exited 1'))).toBe(true);
  });

  it('uses yum where dnf is not installed', async () => {
    await fakeManager('yum');
    expect((await packages()).packages).toEqual({ manager: 'yum', installed: 3, upgradable: 4, security: 3 });
  });
});
