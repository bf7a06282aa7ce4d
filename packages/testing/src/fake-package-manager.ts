import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One package the stand-in knows: installed at `installed`, upgradable when `candidate` differs. */
export interface FakePackage {
  name: string;
  installed: string;
  candidate: string;
  /** Its candidate comes from the security suite (`<name>/stable-security` in `apt list --upgradable`, as Debian prints it). */
  security?: boolean;
  /** Upgrading it makes the server need a reboot (a kernel): `needs-restarting -r` exits 1 afterwards. */
  reboot?: boolean;
  /** Packages an upgrade of this one pulls along when they are upgradable themselves (as curl pulls libcurl4). */
  requires?: string[];
}

/** What the stand-in's `reboot` does (the test sshd restarts itself on the same address, port and host key). */
export type FakeRebootBehaviour = 'reboot' | 'keep-boot-id' | 'stay-down' | 'new-host-key';

export interface FakePackageManagerOptions {
  packages: FakePackage[];
  /**
   * Default 'reboot': sshd restarts and the boot id changes. 'keep-boot-id' restarts it with the old id; 'stay-down' never
   * restarts it; 'new-host-key' restarts it rebooted but with a new host key (a reinstalled machine, or another one).
   */
  onReboot?: FakeRebootBehaviour;
  /** A reboot is already pending before any upgrade. */
  rebootRequired?: boolean;
}

/** What the stand-in recorded, read back by the test. */
export interface FakePackageManager {
  /** Where its commands are (first on the PATH of the sshd's sessions). */
  binDir: string;
  /** Its state folder (owned by the test user), `$MM_FAKE_STATE` in sessions. */
  stateDir: string;
  /** The boot id command a worker under test uses against this stand-in (UPDATE_BOOT_ID_COMMAND). */
  bootIdCommand: string;
  /** What its `apt-get` upgraded for real (not simulations), in order: name, from, to. */
  upgraded(): Promise<{ name: string; from: string; to: string }[]>;
  /** name -> installed version now. */
  installed(): Promise<Map<string, string>>;
  bootId(): Promise<string>;
  /** Reboots done so far (restarts of the sshd). */
  reboots(): number;
}

/*
 * The commands, in POSIX sh and awk, run as the unprivileged test user: even a command that escaped the stand-in could
 * not change this machine's packages. `$MM_FAKE_STATE/packages` holds one line per package:
 * `<name> <installed> <candidate> <flags: security,reboot or -> <requires: a,b or ->`.
 */
const HEADER = '#!/bin/sh\n# Medicine Man test stand-in (packages/testing/src/fake-package-manager.ts): touches only $MM_FAKE_STATE.\nset -eu\nS="${MM_FAKE_STATE:?}"\n';

const SUITE = 'suite = index($4, "security") ? "stable-security" : "stable"';

const APT = `${HEADER}
if [ "$*" = "list --upgradable" ]; then
  echo "Listing..."
  awk '$2 != $3 { ${SUITE}; printf "%s/%s %s amd64 [upgradable from: %s]\\n", $1, suite, $3, $2 }' "$S/packages"
  exit 0
fi
echo "fake apt: unsupported: $*" >&2
exit 100
`;

// The upgradable packages an upgrade of "$names" (all of them when $all=1) touches, requires followed transitively.
const SELECT = `select_packages() {
  awk -v want="$names" -v all="$all" '
    { n++; order[n] = $1; inst[$1] = $2; cand[$1] = $3; flags[$1] = $4; req[$1] = $5 }
    END {
      k = split(want, w, " "); for (i = 1; i <= k; i++) sel[w[i]] = 1
      for (i = 1; i <= n; i++) if (all == 1 && inst[order[i]] != cand[order[i]]) sel[order[i]] = 1
      for (pass = 0; pass < n; pass++) for (i = 1; i <= n; i++) {
        p = order[i]; if (!(p in sel) || req[p] == "-") continue
        m = split(req[p], r, ","); for (j = 1; j <= m; j++) if ((r[j] in inst) && inst[r[j]] != cand[r[j]]) sel[r[j]] = 1
      }
      for (i = 1; i <= n; i++) { p = order[i]; if ((p in sel) && inst[p] != cand[p]) print p, inst[p], cand[p], flags[p] }
    }' "$S/packages"
}
`;

const APT_GET = `${HEADER}
${SELECT}
simulate=0; cmd=""; names=""; all=0
while [ $# -gt 0 ]; do
  case "$1" in
    -s) simulate=1 ;;
    -o) shift ;;
    -*) ;;
    *) if [ -z "$cmd" ]; then cmd="$1"; else names="$names $1"; fi ;;
  esac
  shift
done
case "$cmd" in
  update) echo "Reading package lists... Done"; exit 0 ;;
  upgrade) all=1 ;;
  install) ;;
  *) echo "fake apt-get: unsupported command: $cmd" >&2; exit 100 ;;
esac
for p in $names; do
  grep -q "^$p " "$S/packages" || { echo "E: Unable to locate package $p" >&2; exit 100; }
done
selected=$(select_packages)
[ -n "$selected" ] || { echo "0 upgraded, 0 newly installed"; exit 0; }
if [ "$simulate" = 1 ]; then
  printf '%s\\n' "$selected" | awk 'NF { printf "Inst %s [%s] (%s Debian:12/stable [amd64])\\n", $1, $2, $3 }'
  exit 0
fi
printf '%s\\n' "$selected" | awk 'NF { print $1, $2, $3 }' >> "$S/upgraded"
if printf '%s\\n' "$selected" | awk 'index($4, "reboot") { found = 1 } END { exit !found }'; then : > "$S/reboot-required"; fi
printf '%s\\n' "$selected" | awk 'NR == FNR { if (NF) up[$1] = 1; next } ($1 in up) { $2 = $3 } { print }' - "$S/packages" > "$S/packages.new"
mv "$S/packages.new" "$S/packages"
printf '%s\\n' "$selected" | awk 'NF { printf "Unpacking %s (%s) over (%s) ...\\n", $1, $3, $2 }'
`;

const DPKG_QUERY = `${HEADER}
names=""
while [ $# -gt 0 ]; do
  case "$1" in -W) ;; -f) shift ;; -*) ;; *) names="$names $1" ;; esac
  shift
done
# Without names: every package, as \${db:Status-Abbrev} (the full scan counts installed packages so).
if [ -z "$names" ]; then awk '{ print "ii " }' "$S/packages"; exit 0; fi
awk -v want="$names" 'BEGIN { k = split(want, w, " "); for (i = 1; i <= k; i++) sel[w[i]] = 1 } ($1 in sel) { print $1, $2 }' "$S/packages"
`;

// Never escalates: runs the command as the same user, so the worker's `sudo -n` path is exercised without root.
const SUDO = `${HEADER}
[ "\${1:-}" = "-n" ] && shift
exec "$@"
`;

// RHEL's reboot check (exit 1: a reboot is needed); the update worker asks it when /var/run/reboot-required is absent.
const NEEDS_RESTARTING = `${HEADER}
[ -e "$S/reboot-required" ] && exit 1
exit 0
`;

// The test sshd's watcher sees the request and restarts sshd (packages/testing/src/sshd.ts).
const REBOOT = `${HEADER}
: > "$S/reboot-requested"
echo "fake reboot: requested"
`;

const COMMANDS: Record<string, string> = {
  apt: APT,
  'apt-get': APT_GET,
  'dpkg-query': DPKG_QUERY,
  sudo: SUDO,
  'needs-restarting': NEEDS_RESTARTING,
  reboot: REBOOT,
};

const NAME = /^[a-z0-9][a-z0-9.+-]*$/;
const VERSION = /^[A-Za-z0-9.+~:-]+$/;

function packageLine(p: FakePackage): string {
  if (!NAME.test(p.name) || !VERSION.test(p.installed) || !VERSION.test(p.candidate)) throw new Error(`fake package ${JSON.stringify(p)}: name or version not as apt writes them`);
  const flags = [p.security ? 'security' : '', p.reboot ? 'reboot' : ''].filter(Boolean).join(',') || '-';
  return `${p.name} ${p.installed} ${p.candidate} ${flags} ${p.requires?.length ? p.requires.join(',') : '-'}`;
}

/** The state file markers the sshd's watcher acts on. */
export const REBOOT_REQUESTED = 'reboot-requested';

export interface InstalledFakePackageManager {
  binDir: string;
  stateDir: string;
  /** After a restart of the sshd: a new boot id (unless kept) and no pending reboot. */
  rebooted(keepBootId: boolean): Promise<void>;
  handle(reboots: () => number): FakePackageManager;
}

/** Writes the commands into `<dir>/fake-bin` (root-owned, read-only to the user) and the state into `<workDir>/fake-pm`. */
export async function installFakePackageManager(dir: string, workDir: string, owner: { uid: number; gid: number }, opts: FakePackageManagerOptions): Promise<InstalledFakePackageManager> {
  const binDir = join(dir, 'fake-bin');
  const stateDir = join(workDir, 'fake-pm');
  await mkdir(binDir, { mode: 0o755 });
  await chmod(binDir, 0o755);
  for (const [name, text] of Object.entries(COMMANDS)) await writeFile(join(binDir, name), text, { mode: 0o755 });
  await mkdir(stateDir, { mode: 0o755 });
  const writeState = async (name: string, text: string) => {
    await writeFile(join(stateDir, name), text, { mode: 0o644 });
    await chown(join(stateDir, name), owner.uid, owner.gid);
  };
  await writeState('packages', opts.packages.map(packageLine).join('\n') + '\n');
  await writeState('upgraded', '');
  await writeState('boot_id', `${randomUUID()}\n`);
  if (opts.rebootRequired) await writeState('reboot-required', '');
  await chown(stateDir, owner.uid, owner.gid);

  return {
    binDir,
    stateDir,
    async rebooted(keepBootId) {
      if (!keepBootId) await writeState('boot_id', `${randomUUID()}\n`);
      await rm(join(stateDir, 'reboot-required'), { force: true });
    },
    handle(reboots) {
      return {
        binDir,
        stateDir,
        bootIdCommand: 'cat "$MM_FAKE_STATE/boot_id"',
        async upgraded() {
          const text = await readFile(join(stateDir, 'upgraded'), 'utf8');
          return text.split('\n').filter(Boolean).map((line) => {
            const [name = '', from = '', to = ''] = line.split(' ');
            return { name, from, to };
          });
        },
        async installed() {
          const text = await readFile(join(stateDir, 'packages'), 'utf8');
          return new Map(text.split('\n').filter(Boolean).map((line) => line.split(' ').slice(0, 2) as [string, string]));
        },
        async bootId() {
          return (await readFile(join(stateDir, 'boot_id'), 'utf8')).trim();
        },
        reboots,
      };
    },
  };
}
