import { windowsSelecting, type Db } from '@mm/db';
import { ApiError } from './errors.js';
import { hasRole, type Role } from './roles.js';

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Runs a change of a server's name, tags or labels in one transaction. Maintenance windows select servers by those
 * fields and bound what an operator's updates may do (docs/SECURITY.md), so an operator's change that moves the server
 * into or out of a window is rolled back with 403: renaming `db-1` or dropping its `prod` tag must not be a way around
 * its window. Admins may; so may anyone when the windows stay the same.
 */
export async function withWindowsUnchanged<T>(db: Db, serverId: string, role: Role, change: (tx: Tx) => Promise<T>): Promise<T> {
  if (hasRole(role, 'admin')) return db.transaction(change);
  return db.transaction(async (tx) => {
    const before = await windowsSelecting(tx, serverId);
    const result = await change(tx);
    const after = await windowsSelecting(tx, serverId);
    if (before.join('\n') !== after.join('\n')) {
      const moved = [...before.filter((n) => !after.includes(n)).map((n) => `out of '${n}'`), ...after.filter((n) => !before.includes(n)).map((n) => `into '${n}'`)];
      throw new ApiError('FORBIDDEN', `This change would move the server ${moved.join(' and ')} (maintenance windows); only an admin may do that.`);
    }
    return result;
  });
}
