import { defineConfig, mergeConfig } from 'vitest/config';
import preset from '@mm/testing/vitest-preset';

// vitest's default on a 2-core machine is one file at a time (cores - 1). Each file has its own database, queue
// prefix, sshd, BACKUP_DIR and restic repository, and mostly waits on them and on the workers it starts: two at
// once took this suite from 91 s to 47-54 s on the 2-core CI box (two runs, all 81 tests passing).
export default mergeConfig(preset, defineConfig({ test: { maxWorkers: 2 } }));
