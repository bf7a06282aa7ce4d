import type { SshSession } from '@mm/ssh';

// Debian-family packages create /var/run/reboot-required; RHEL-family has needs-restarting -r (exit 1 = reboot);
// elsewhere a running kernel whose modules are gone has been replaced by a newer one.
const REBOOT_CHECK = [
  'if [ -e /var/run/reboot-required ]; then echo required=yes',
  'elif command -v needs-restarting >/dev/null 2>&1; then needs-restarting -r >/dev/null 2>&1; case $? in 0) echo required=no ;; 1) echo required=yes ;; esac',
  'elif [ -d /var/lib/dpkg ]; then echo required=no',
  'elif [ -n "$(ls /lib/modules 2>/dev/null)" ]; then if [ -d "/lib/modules/$(uname -r)" ]; then echo required=no; else echo required=yes; fi',
  'fi',
].join('\n');

/** true or false, or null when this system gives no way to tell. */
export async function checkRebootRequired(session: SshSession, signal: AbortSignal | undefined): Promise<boolean | null> {
  const res = await session.exec(REBOOT_CHECK, { timeoutMs: 60_000, signal });
  if (/^required=yes$/m.test(res.stdout)) return true;
  if (/^required=no$/m.test(res.stdout)) return false;
  return null;
}
