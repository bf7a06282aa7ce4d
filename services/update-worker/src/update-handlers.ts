import type { Handlers } from '@mm/jobs';
import type { JobContext } from '@mm/worker-runtime';
import { updateServer } from './handlers/update-server.js';

/** One handler per update job name of the catalog; the compiler rejects a missing or extra one. */
export const updateHandlers: Handlers<'update', JobContext<'update'>> = {
  'update:server': updateServer,
};
