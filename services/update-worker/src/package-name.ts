import { PACKAGE_NAME_PATTERN } from '@mm/jobs';

const packageName = new RegExp(PACKAGE_NAME_PATTERN);

/**
 * A package name as the catalog's schema accepts it (no spaces, metacharacters or leading dash); returns it unchanged.
 * Checked again here, beside the command it goes into, although the payload was validated on its way in.
 */
export function assertPackageName(name: string): string {
  if (typeof name !== 'string' || !packageName.test(name)) throw new Error(`invalid package name: ${JSON.stringify(name)}`);
  return name;
}
