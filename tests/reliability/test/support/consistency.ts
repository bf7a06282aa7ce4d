import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inArray } from 'drizzle-orm';
import { expect } from 'vitest';
import { backups, scans, updates } from '@mm/db';
import type { Producer, QueueAlias } from '@mm/jobs';
import type { Stack } from './stack.js';
import { filesUnder, sha256File } from './files.js';

const tables = { backup: backups, scan: scans, update: updates } as const;

/** Waits until every job in `ids` has reached a final BullMQ state; returns the states. */
export async function finalStates(producer: Producer, queue: QueueAlias, ids: string[]): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const id of ids) states[id] = await producer.queue(queue).getJobState(id);
  return states;
}

/** No record of the stack is left pending or running: a record is final exactly when its job is. */
export async function expectNoOpenRecords(stack: Stack): Promise<void> {
  for (const [queue, table] of Object.entries(tables)) {
    const open = await stack.db.db.select({ id: table.id, status: table.status }).from(table).where(inArray(table.status, ['pending', 'running']));
    expect(open, `${queue} records left pending or running`).toEqual([]);
  }
}

/** Each job completed in the queue and has a completed record of its own. */
export async function expectCompletedRecords(stack: Stack, queue: QueueAlias, ids: string[]): Promise<void> {
  const states = await finalStates(stack.producer, queue, ids);
  expect(Object.values(states).filter((s) => s !== 'completed'), `${queue} jobs not completed: ${JSON.stringify(states)}`).toEqual([]);
  const table = tables[queue];
  const rows = await stack.db.db.select({ id: table.id, status: table.status }).from(table).where(inArray(table.id, ids));
  expect(rows.map((r) => r.status).filter((s) => s !== 'completed')).toEqual([]);
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
}

/**
 * Each backup's archive is on disk under its final name, its size and sha256 match the record, and the backup
 * dir holds nothing else: no `.partial`, no stray copy.
 */
export async function expectStoredArchives(stack: Stack, serverId: string, ids: string[]): Promise<void> {
  const rows = await stack.db.db.select().from(backups).where(inArray(backups.id, ids));
  expect(rows).toHaveLength(ids.length);
  const expected: string[] = [];
  for (const row of rows) {
    expect(row.filePath, `backup ${row.id} has a file`).toBeTruthy();
    const path = row.filePath as string;
    expected.push(path.slice(stack.backupDir.length + 1));
    expect((await stat(path)).size).toBe(row.sizeBytes);
    expect(await sha256File(path)).toBe(row.sha256);
    // A full or incremental archive keeps its GNU tar snapshot file beside it (the next incremental's base).
    const snapshotFile = (row.result as { snapshotFile?: unknown } | null)?.snapshotFile;
    if (typeof snapshotFile === 'string') expected.push(snapshotFile);
  }
  expect(await filesUnder(stack.backupDir)).toEqual(expected.sort());
  expect(expected.every((p) => p.startsWith(join(serverId, '')))).toBe(true);
}
