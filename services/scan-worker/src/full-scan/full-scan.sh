# Full scan: gathers every fact in one round trip. POSIX sh, read-only, no user input.
# Each section starts with a "@@mm-section <name>" line; a fact that cannot be read prints
# "@@mm-unavailable <reason>" instead of failing, so the scan never dies on one missing tool.
export LC_ALL=C
PATH="$PATH:/usr/sbin:/sbin"
section() { echo "@@mm-section $1"; }
unavailable() { echo "@@mm-unavailable $1"; }
have() { command -v "$1" >/dev/null 2>&1; }

section os
if [ -r /etc/os-release ]; then cat /etc/os-release
elif [ -r /usr/lib/os-release ]; then cat /usr/lib/os-release
else unavailable "no /etc/os-release"
fi

section kernel
echo "release=$(uname -r)"
echo "machine=$(uname -m)"
echo "hostname=$(uname -n)"

section uptime
if [ -r /proc/uptime ] && [ -r /proc/loadavg ]; then
  echo "uptime=$(cat /proc/uptime)"
  echo "loadavg=$(cat /proc/loadavg)"
else unavailable "no /proc/uptime or /proc/loadavg"
fi

section cpu
if [ -r /proc/stat ]; then
  echo "online=$(grep -c '^cpu[0-9]' /proc/stat)"
  if have nproc; then echo "available=$(nproc)"; fi
  if [ -r /proc/cpuinfo ]; then grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*:[[:space:]]*/model=/'; fi
else unavailable "no /proc/stat"
fi

section memory
if [ -r /proc/meminfo ]; then grep -E '^(MemTotal|MemAvailable|SwapTotal|SwapFree):' /proc/meminfo
else unavailable "no /proc/meminfo"
fi

section disk
if have df; then df -P -k 2>/dev/null || true
else unavailable "df is not installed"
fi

section ports
if [ -r /proc/net/tcp ] && have awk; then
  for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
    # 0A is TCP LISTEN; 07 on a UDP socket with no remote address is a bound, listening socket.
    [ -r "$f" ] && awk -v p="${f##*/}" 'NR > 1 && (($4 == "0A" && p ~ /^tcp/) || ($4 == "07" && p ~ /^udp/ && $3 ~ /^0+:0000$/)) { print p, $2 }' "$f"
  done
else unavailable "no /proc/net/tcp or awk"
fi

section packages
if have dpkg-query; then
  if have apt-get; then echo "manager=apt"; else echo "manager=dpkg"; fi
  echo "installed=$(dpkg-query -W -f '${db:Status-Abbrev}\n' 2>/dev/null | grep -c '^ii')"
  # Reads the current index without root (it does not refresh it); far quicker than apt-get -s upgrade.
  # A security update comes from a *-security suite (bookworm-security, jammy-security), first or among several.
  if have apt; then apt list --upgradable 2>/dev/null | awk '/upgradable from/ { n++; if ($1 ~ /^[^\/]*\/[^ ]*-security/) s++ } END { print "upgradable=" n + 0; print "security=" s + 0 }'; fi
elif have dnf || have yum; then
  if have dnf; then m=dnf; else m=yum; fi
  echo "manager=$m"
  echo "installed=$(rpm -qa 2>/dev/null | wc -l)"
  # -C: cache only, so a scan never downloads metadata; exit 100 means updates are listed, 0 none.
  out=$($m -q -C check-update 2>/dev/null); rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 100 ]; then
    echo "upgradable=$(printf '%s\n' "$out" | awk '/^Obsolet/ { exit } NF == 3 { n++ } END { print n + 0 }')"
    # Packages named by a security advisory; nothing (unknown) when the cache holds no updateinfo.
    sec=$($m -q -C updateinfo list --security 2>/dev/null) && echo "security=$(printf '%s\n' "$sec" | awk 'NF >= 3 { print $3 }' | sort -u | wc -l)"
  else echo "upgradable-error=$m check-update exited $rc (no metadata cache?)"
  fi
elif have apk; then
  echo "manager=apk"
  echo "installed=$(apk info 2>/dev/null | wc -l)"
  echo "upgradable=$(apk version -l '<' 2>/dev/null | grep -c ' < ')"
else unavailable "no apt, dnf, yum or apk"
fi

section systemd
if [ -d /run/systemd/system ] && have systemctl; then
  systemctl list-units --state=failed --no-legend --plain --no-pager 2>/dev/null | awk 'NF > 0 { print "failed=" $1 }'
  echo "checked=yes"
else unavailable "systemd is not running"
fi

section sshd
if have sshd && sshd -T >/dev/null 2>&1; then
  echo "source=sshd -T"
  sshd -T 2>/dev/null | grep -iE '^(permitrootlogin|passwordauthentication|kbdinteractiveauthentication|pubkeyauthentication) '
elif [ -r /etc/ssh/sshd_config ]; then
  # sshd -T needs root (it loads the host keys): read the files instead, in the order sshd does.
  echo "source=config files"
  for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf; do
    [ -e "$f" ] || continue
    echo "@@mm-file $f"
    if [ -r "$f" ]; then grep -iE '^[[:space:]]*(include|match|permitrootlogin|passwordauthentication|kbdinteractiveauthentication|pubkeyauthentication)([[:space:]]|=)' "$f"
    else echo "@@mm-unreadable"
    fi
  done
else unavailable "no readable /etc/ssh/sshd_config and sshd -T needs root"
fi

section reboot
if [ -e /var/run/reboot-required ]; then
  echo "required=yes"
  [ -r /var/run/reboot-required.pkgs ] && sed 's/^/package=/' /var/run/reboot-required.pkgs
elif have needs-restarting; then
  needs-restarting -r >/dev/null 2>&1; rc=$?
  case $rc in 0) echo "required=no" ;; 1) echo "required=yes" ;; *) unavailable "needs-restarting -r exited $rc" ;; esac
elif [ -d /var/lib/dpkg ]; then
  # Debian-family packages create /var/run/reboot-required when they need one.
  echo "required=no"
elif [ -d /lib/modules ] && [ -n "$(ls /lib/modules 2>/dev/null)" ]; then
  # The running kernel's modules vanish when a newer kernel replaced it.
  if [ -d "/lib/modules/$(uname -r)" ]; then echo "required=no"; else echo "required=yes"; fi
else unavailable "no way to tell on this system"
fi

section end
