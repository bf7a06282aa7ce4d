/** Where a restic repository lives: the shapes of issue #14's storage-target `location`. */
export type ResticLocation =
  | { type: 'local'; path: string }
  | {
      type: 's3';
      endpoint: string;
      bucket: string;
      prefix?: string;
      region?: string;
      accessKeyId: string;
      secretAccessKey: string;
      caCertPem?: string;
    }
  | { type: 'rest'; url: string; username?: string; password?: string; caCertPem?: string }
  | { type: 'sftp'; host: string; port: number; username: string; privateKey: string; path: string; hostKeyFingerprint: string };

/** A repository as restic is asked to open it: a display name for messages, its location and its password. */
export interface ResticTarget {
  /** Used in error messages ("storage target 'offsite'"); never a secret. */
  name: string;
  location: ResticLocation;
  password: string;
}

const trimSlashes = (s: string): string => s.replace(/^\/+|\/+$/g, '');

/**
 * The repository string without credentials, as an operator would pass it to `restic -r` (docs/BACKUPS.md).
 * REST credentials travel in the URL restic reads from RESTIC_REPOSITORY (restic 0.14 has no
 * RESTIC_REST_USERNAME), so this form is the one for messages and the other one is only ever put in env.
 */
export function repositoryString(location: ResticLocation): string {
  switch (location.type) {
    case 'local':
      return location.path;
    case 's3': {
      const endpoint = location.endpoint.replace(/\/+$/, '');
      const prefix = location.prefix ? `/${trimSlashes(location.prefix)}` : '';
      return `s3:${endpoint}/${location.bucket}${prefix}`;
    }
    case 'rest':
      return `rest:${location.url}`;
    case 'sftp':
      // sftp.command (see invocation.ts) makes the connection; restic takes only the path from this string.
      return `sftp:${location.username}@${location.host}:${location.path}`;
  }
}

/** The repository string with REST basic-auth credentials, for RESTIC_REPOSITORY only. */
export function repositoryStringWithCredentials(location: ResticLocation): string {
  if (location.type !== 'rest' || location.username === undefined) return repositoryString(location);
  const url = new URL(location.url);
  url.username = encodeURIComponent(location.username);
  url.password = encodeURIComponent(location.password ?? '');
  return `rest:${url.toString()}`;
}
