import type { Scenario } from './core/scenario.js';
import { ceilings } from './scenarios/ceilings.js';
import { enqueue } from './scenarios/enqueue.js';
import { statusRead } from './scenarios/status-read.js';
import { listing } from './scenarios/listing.js';
import { pickup } from './scenarios/pickup.js';
import { sshOverhead } from './scenarios/ssh-overhead.js';
import { backupStreaming } from './scenarios/backup-streaming.js';
import { scaleOut } from './scenarios/scale-out.js';
import { fanOut } from './scenarios/fan-out.js';
import { repositoryBackup } from './scenarios/repository-backup.js';
import { fleetRun } from './scenarios/fleet-run.js';
import { backends } from './scenarios/backends.js';
import { fleetScan } from './scenarios/fleet-scan.js';

/** Every scenario in run order: ceilings first, so a reader sees the machine's limits before the paths built on them. */
export const scenarios: Scenario[] = [ceilings, enqueue, statusRead, listing, pickup, sshOverhead, backupStreaming, scaleOut, fanOut, repositoryBackup, fleetRun, backends, fleetScan];
