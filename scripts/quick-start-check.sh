#!/usr/bin/env bash
# Proves the README's first quick-start command on a "fresh machine with nothing but Node" (docs/DEPLOYMENT.md,
# "How the zero-setup start is tested"). Run as root from the repository:
#   bash scripts/quick-start-check.sh [--as-root] [--worktree]     (KEEP=1 keeps the temporary folder)
#
# 1. The committed tree (git archive HEAD; --worktree: the tracked and untracked files of the work tree, for trying a
#    change before committing it) goes into a temporary folder, owned by a new user with an empty home:
#    no pnpm, no pnpm store, no node_modules, no environment variables but HOME and PATH.
# 2. As that user, with network: `npm i -g pnpm@12.4.2 && pnpm install` (the registry is the one thing it needs).
# 3. `pnpm start` as that user (or as root with --as-root: the embedded PostgreSQL then runs as the `postgres` user) in
#    new network and mount namespaces: loopback only, so 127.0.0.1:5432 and :6379 answer nobody, and the system
#    PostgreSQL's and Redis' Unix sockets are hidden under empty tmpfs mounts.
# 4. scripts/quick-start-probe.mjs, in the same namespaces: the ports are closed, the API answers, the development admin
#    logs in, a backup:cleanup job runs to completion. Then Ctrl-C (SIGINT to the process group), and the embedded
#    PostgreSQL must have stopped with every service.
# Takes a few minutes (pnpm install downloads the dependencies into the new user's empty store). Not part of CI.
set -euo pipefail

as_root=false
from_worktree=false
for arg in "$@"; do
  case "$arg" in
    --as-root) as_root=true ;;
    --worktree) from_worktree=true ;;
    *) echo "usage: $0 [--as-root] [--worktree]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (it creates a user and network namespaces)" >&2; exit 2; }

src="$(cd "$(dirname "$0")/.." && pwd)"
user=mmquickstart
work="$(mktemp -d /tmp/mm-quickstart.XXXXXX)"
chmod 755 "$work"
home="$work/home"
repo="$work/repo"
log="$work/start.log"

cleanup() {
  pkill -KILL -u "$user" 2>/dev/null || true
  # After a failed check: the embedded server (the postgres user's, with --as-root) must not outlive it.
  if [ -f "$repo/var/postgres/data/postmaster.pid" ]; then kill -INT "$(head -n 1 "$repo/var/postgres/data/postmaster.pid")" 2>/dev/null || true; sleep 2; fi
  id "$user" >/dev/null 2>&1 && userdel "$user" 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

if $from_worktree; then tree="the work tree at $(git -C "$src" rev-parse --short HEAD)"; else tree="the committed tree $(git -C "$src" rev-parse --short HEAD)"; fi
step "a new user ($user) with an empty home, and $tree"
if id "$user" >/dev/null 2>&1; then userdel "$user"; fi
useradd --home-dir "$home" --create-home --shell /bin/bash "$user"
mkdir -p "$repo"
if $from_worktree; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -c) | tar -x -C "$repo"
else
  git -C "$src" archive --format=tar HEAD | tar -x -C "$repo"
fi
chown -R "$user:" "$repo"

# Nothing inherited from this shell but a PATH to the system's Node, npm's global prefix inside the new home, and the
# machine's TLS trust settings when it has them (the registry is reached through this machine's certificate store).
clean_env=(env -i "HOME=$home" "PATH=$home/.npm-global/bin:/usr/local/bin:/usr/bin:/bin" "NPM_CONFIG_PREFIX=$home/.npm-global"
  "LANG=C.UTF-8" "TERM=dumb" "TURBO_TELEMETRY_DISABLED=1")
for var in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR; do
  if [ -n "${!var:-}" ]; then clean_env+=("$var=${!var}"); fi
done
as_user=(runuser -u "$user" --)

# A pnpm installed for the whole machine (here: npm i -g by root, in /usr/lib/node_modules) is not on a fresh machine:
# each step runs in a mount namespace where that folder is an empty tmpfs.
hide_global_pnpm='for dir in /usr/lib/node_modules/pnpm /usr/local/lib/node_modules/pnpm; do
  if [ -d "$dir" ]; then mount -t tmpfs -o size=1m tmpfs "$dir"; fi
done'

step "npm i -g pnpm@12.4.2 && pnpm install   (as $user, with network; node $(node --version))"
unshare --mount --propagation private bash -s -- "$repo" "$hide_global_pnpm" "${as_user[@]}" "${clean_env[@]}" <<'INSTALL'
set -euo pipefail
repo="$1"; eval "$2"; shift 2
echo "pnpm before: $("$@" bash -c 'command -v pnpm || echo none')"
exec "$@" bash -c "cd '$repo' && npm i -g pnpm@12.4.2 && pnpm install"
INSTALL

if $as_root; then runner=(); who=root; else runner=("${as_user[@]}"); who=$user; fi
step "pnpm start   (as $who; no network but loopback; system PostgreSQL and Redis sockets hidden)"
status=0
unshare --net --mount --propagation private bash -s -- "$repo" "$log" "$src/scripts/quick-start-probe.mjs" "$hide_global_pnpm" "${runner[@]}" "${clean_env[@]}" <<'NS' || status=$?
set -euo pipefail
repo="$1"; log="$2"; probe="$3"; hide_global_pnpm="$4"; shift 4
ip link set lo up
eval "$hide_global_pnpm"
for dir in /run/postgresql /var/run/postgresql /run/redis /var/run/redis; do
  if [ -d "$dir" ]; then mount -t tmpfs -o size=1m tmpfs "$dir"; fi
done
setsid "$@" bash -c "cd '$repo' && exec pnpm start" >"$log" 2>&1 &
group=$!
status=0
node "$probe" 300000 "$group" || status=$?
echo "-- the start line:"
grep -m1 -E 'embedded PostgreSQL at' "$log" || { echo "FAIL no start line naming the mode"; status=1; }
echo "-- Ctrl-C (SIGINT to the process group)"
kill -INT -- "-$group" 2>/dev/null || true
for _ in $(seq 1 120); do kill -0 "$group" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$group" 2>/dev/null; then echo "FAIL pnpm start still running 60 s after SIGINT"; status=1; kill -KILL -- "-$group" 2>/dev/null || true; fi
if [ -e "$repo/var/postgres/data/postmaster.pid" ]; then echo "FAIL the embedded PostgreSQL is still running"; status=1
else echo "ok   the embedded PostgreSQL stopped: $(tail -n 1 "$repo/var/postgres/data/server.log")"; fi
exit "$status"
NS

step "pnpm start output (last 40 lines of $log)"
tail -n 40 "$log"
exit "$status"
