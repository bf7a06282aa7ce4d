import type { Handlers } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { runFullScan } from './handlers/full-scan.js';
import { runQuickScan } from './handlers/quick-scan.js';

/** One handler per scan job name of the catalog; the compiler rejects a missing or extra one. */
export const scanHandlers: Handlers<'scan', JobContext<'scan'>> = {
  'scan:quick': runQuickScan,
  'scan:full': runFullScan,
};
