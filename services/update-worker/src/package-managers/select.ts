import { apk } from './apk.js';
import { apt } from './apt.js';
import type { PackageManager, PackageManagerName } from './package-manager.js';
import { dnf, yum } from './rpm-family.js';

export const packageManagers: Record<PackageManagerName, PackageManager> = { apt, dnf, yum, apk };
