import { queueAliases, type QueueAlias } from '@mm/jobs';
import type { Cursor } from '../../plugins/event-hub.js';

/**
 * The SSE id of a multi-queue stream: the position in every queue's events stream, so one
 * Last-Event-ID resumes all of them (`backup:1700000000000-0,scan:...,update:...`).
 */
export const CURSOR_PATTERN = `^(${queueAliases.join('|')}):[0-9]{1,20}-[0-9]{1,20}(,(${queueAliases.join('|')}):[0-9]{1,20}-[0-9]{1,20}){0,${queueAliases.length - 1}}$`;

export function formatCursor(cursor: Readonly<Cursor>, queues: readonly QueueAlias[]): string {
  return queues.map((q) => `${q}:${cursor[q] ?? '0-0'}`).join(',');
}

/** The positions of a Last-Event-ID; a queue it does not name starts now. */
export function parseCursor(value: string): Cursor {
  const cursor: Cursor = {};
  for (const part of value.split(',')) {
    const sep = part.indexOf(':');
    const queue = part.slice(0, sep) as QueueAlias;
    if (queueAliases.includes(queue)) cursor[queue] = part.slice(sep + 1);
  }
  return cursor;
}
