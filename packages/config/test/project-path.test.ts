import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, resolveProjectPath, resolveRepositoryString } from '../src/index.js';

describe('project paths', () => {
  it('finds the workspace root whatever the working directory', () => {
    const root = projectRoot();
    expect(existsSync(join(root, 'pnpm-workspace.yaml'))).toBe(true);
    expect(existsSync(join(root, 'services', 'backup-worker'))).toBe(true);
  });

  it('resolves relative paths against the root, keeps absolute ones', () => {
    expect(resolveProjectPath('var/backups', '/srv/mm')).toBe('/srv/mm/var/backups');
    expect(resolveProjectPath('./var/../var/backups', '/srv/mm')).toBe('/srv/mm/var/backups');
    expect(resolveProjectPath('/data/backups', '/srv/mm')).toBe('/data/backups');
  });

  it('resolves only local repository strings', () => {
    expect(resolveRepositoryString('var/repo', '/srv/mm')).toBe('/srv/mm/var/repo');
    expect(resolveRepositoryString('local:var/repo', '/srv/mm')).toBe('/srv/mm/var/repo');
    expect(resolveRepositoryString('/abs/repo', '/srv/mm')).toBe('/abs/repo');
    expect(resolveRepositoryString('s3:https://s3.example/bucket', '/srv/mm')).toBe('s3:https://s3.example/bucket');
    expect(resolveRepositoryString('sftp:u@h:/srv/repo', '/srv/mm')).toBe('sftp:u@h:/srv/repo');
  });
});
