import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The project root: the nearest folder above this module holding pnpm-workspace.yaml (the same for the API and every
 * worker, whether run from src/ or from a bundle under dist/), else the working directory (an image without the
 * workspace file). Relative BACKUP_DIR and BACKUP_REPOSITORY resolve against it, so every process finds the same files.
 */
export function projectRoot(): string {
  if (cached) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return (cached = dir);
    if (dirname(dir) === dir) return (cached = process.cwd());
  }
}

/** `path` as an absolute path; a relative one is taken from the project root (not from the process's working directory). */
export function resolveProjectPath(path: string, root: string = projectRoot()): string {
  return isAbsolute(path) ? resolve(path) : resolve(root, path);
}

/**
 * A restic repository string with a relative local path resolved like resolveProjectPath; other backends
 * (`s3:`, `rest:`, `sftp:`, `rclone:`, ...) and absolute paths come back unchanged.
 */
export function resolveRepositoryString(repository: string, root: string = projectRoot()): string {
  const local = repository.startsWith('local:') ? repository.slice('local:'.length) : repository;
  if (/^[a-z0-9]+:/i.test(local)) return repository;
  return resolveProjectPath(local, root);
}
