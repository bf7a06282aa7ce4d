import { readFileSync } from 'node:fs';

/** The remote script of a full scan: a constant file, shipped as is (no user input reaches it). */
export const FULL_SCAN_SCRIPT = readFileSync(new URL('./full-scan.sh', import.meta.url), 'utf8');

/** The sections the script prints, in order; the handler maps them onto progress 40..80. */
export const FULL_SCAN_SECTIONS = ['os', 'kernel', 'uptime', 'cpu', 'memory', 'disk', 'ports', 'packages', 'systemd', 'sshd', 'reboot', 'end'] as const;
export type FullScanSection = (typeof FULL_SCAN_SECTIONS)[number];

export const SECTION_MARKER = '@@mm-section ';
