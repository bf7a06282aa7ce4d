/** The quick scan's one command (the SSH layer runs it with sh -c): constant, each fact on a `key=value` line. */
export const QUICK_SCAN_SCRIPT = [
  'printf "uname=%s\\n" "$(uname -a)"',
  '[ -r /proc/uptime ] && printf "uptime-seconds=%s\\n" "$(cut -d" " -f1 /proc/uptime)"',
  'command -v uptime >/dev/null 2>&1 && printf "uptime=%s\\n" "$(uptime)"',
  'exit 0',
].join('\n');

export interface QuickScanFacts {
  uname: string | null;
  uptimeSeconds: number | null;
  uptime: string | null;
}

export function parseQuickScanOutput(stdout: string): QuickScanFacts {
  const value = (key: string) => {
    const line = stdout.split('\n').find((l) => l.startsWith(`${key}=`));
    return line === undefined ? null : line.slice(key.length + 1).trim() || null;
  };
  const seconds = Number(value('uptime-seconds'));
  return { uname: value('uname'), uptimeSeconds: value('uptime-seconds') !== null && Number.isFinite(seconds) ? seconds : null, uptime: value('uptime') };
}
