import { Type } from '@sinclair/typebox';
import type { Db } from '@mm/db';
import { ApiError } from '../../shared/errors.js';
import { Uuid } from '../../shared/schemas.js';
import { targetExists } from './repository.js';

/** How servers, schedules and backup triggers name a storage target: its id, or 'default' (BACKUP_REPOSITORY). */
export const StorageTargetRef = Type.Union([Uuid, Type.Literal('default')], {
  description: "a storage target's id, or 'default' for the environment's target",
});

/** On a server or schedule, null (like 'default') clears its own choice. */
export const NullableStorageTargetRef = Type.Union([Uuid, Type.Literal('default'), Type.Null()], {
  description: "a storage target's id; 'default' or null = no target of its own (a schedule then uses the server's, a server the default)",
});

/**
 * The value a server's or schedule's storage_target_id column takes for a reference: null for 'default' and null,
 * the id for an existing target. An unknown id is a 400 naming the field, so nothing is stored or enqueued.
 */
export async function storedTargetId(db: Db, ref: string | null, field = '/storageTargetId'): Promise<string | null> {
  if (ref === null || ref === 'default') return null;
  if (!(await targetExists(db, ref))) throw new ApiError('VALIDATION_ERROR', `Storage target ${ref} does not exist.`, [{ path: field, message: 'no such storage target' }]);
  return ref;
}
