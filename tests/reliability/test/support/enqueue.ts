import { randomUUID } from 'node:crypto';
import type { Producer } from '@mm/jobs';

/** Enqueues a manual backup of `serverId` straight into the queue (as the API would) and returns its id. */
export async function enqueueBackup(producer: Producer, serverId: string, opts: { compression?: boolean; encryption?: boolean } = {}): Promise<string> {
  const backupId = randomUUID();
  await producer.enqueue('backup:manual', {
    serverId,
    backupId,
    userId: null,
    options: { backup_type: 'full', compression: opts.compression ?? false, encryption: opts.encryption ?? false },
    isScheduled: false,
  });
  return backupId;
}

export async function enqueueScan(producer: Producer, serverId: string, name: 'scan:quick' | 'scan:full'): Promise<string> {
  const scanId = randomUUID();
  await producer.enqueue(name, { serverId, scanId, userId: null });
  return scanId;
}
