import { X509Certificate } from 'node:crypto';
import type { StorageTargetLocation, StorageTargetSecrets } from '@mm/db';
import type { ResticLocation } from '@mm/restic';
import type { ErrorDetail } from '../../shared/errors.js';
import type { Location, PublicLocation } from './schemas.js';

export interface LocationRules {
  /** STORAGE_ALLOW_INSECURE_S3: an http:// S3 endpoint is refused unless this is set. */
  allowInsecureS3: boolean;
}

const hasDotDot = (path: string) => path.split('/').includes('..');

function certificateProblem(pem: string): string | undefined {
  try {
    new X509Certificate(pem);
    return undefined;
  } catch {
    return 'is not a PEM certificate';
  }
}

/**
 * What the schema cannot say about a target definition: absolute paths without '..', an HTTPS S3 endpoint, URLs
 * without credentials or queries, a parseable CA certificate, and that the archive engine writes plain files to a
 * local folder only (S3, REST and SFTP are restic repositories). Returns the problems as error details (empty: acceptable).
 */
export function locationProblems(engine: 'restic' | 'archive', location: Location, rules: LocationRules, password?: string): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const at = (path: string, message: string) => problems.push({ path: `/location/${path}`, message });
  if (engine === 'archive' && location.type !== 'local') {
    problems.push({ path: '/engine', message: `the archive engine stores one plain file per backup in a local folder (a shared mount for several workers); a ${location.type} location needs engine 'restic'` });
  }
  // Archives are encrypted (when asked) with the service-wide BACKUP_ENCRYPTION_KEY: a password would be ignored.
  if (engine === 'archive' && password !== undefined) problems.push({ path: '/password', message: "is the restic repository password; the archive engine has none (it encrypts with BACKUP_ENCRYPTION_KEY)" });
  switch (location.type) {
    case 'local':
    case 'sftp':
      if (!location.path.startsWith('/')) at('path', 'must be an absolute path');
      else if (hasDotDot(location.path)) at('path', "must not contain a '..' segment");
      break;
    case 's3': {
      const url = parseUrl(location.endpoint);
      if (!url) at('endpoint', 'must be a URL such as https://s3.example.com');
      else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && rules.allowInsecureS3)) {
        at('endpoint', url.protocol === 'http:' ? 'must use https:// (plain http needs STORAGE_ALLOW_INSECURE_S3=true on the API)' : 'must use https://');
      } else if (url.username || url.password) at('endpoint', 'must not carry credentials (use accessKeyId and secretAccessKey)');
      else if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) at('endpoint', 'must be scheme, host and port only (the bucket and prefix are fields of their own)');
      break;
    }
    case 'rest': {
      const url = parseUrl(location.url);
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) at('url', 'must be an http:// or https:// URL');
      else if (url.username || url.password) at('url', 'must not carry credentials (use username and password)');
      else if (url.search || url.hash) at('url', 'must not have a query or fragment');
      if (location.password !== undefined && location.username === undefined) at('username', 'is required with a password');
      break;
    }
  }
  if ((location.type === 's3' || location.type === 'rest') && location.caCertPem !== undefined) {
    const problem = certificateProblem(location.caCertPem);
    if (problem) at('caCertPem', problem);
  }
  if (location.type === 'sftp' && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(location.privateKey)) at('privateKey', 'is not a PEM/OpenSSH private key');
  return problems;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Splits a definition into what is stored in clear (and shown) and what is encrypted. */
export function splitLocation(location: Location): { stored: StorageTargetLocation; secrets: StorageTargetSecrets } {
  switch (location.type) {
    case 'local':
      return { stored: { type: 'local', path: location.path }, secrets: {} };
    case 's3': {
      const { accessKeyId, secretAccessKey, ...rest } = location;
      return { stored: { ...rest, endpoint: rest.endpoint.replace(/\/+$/, '') }, secrets: { accessKeyId, secretAccessKey } };
    }
    case 'rest': {
      const { password, ...rest } = location;
      return { stored: rest, secrets: password === undefined ? {} : { password } };
    }
    case 'sftp': {
      const { privateKey, ...rest } = location;
      return { stored: rest, secrets: { privateKey } };
    }
  }
}

/** The stored location and its decrypted secrets as restic's location. */
export function joinLocation(stored: StorageTargetLocation, secrets: StorageTargetSecrets): ResticLocation {
  switch (stored.type) {
    case 'local':
      return stored;
    case 's3':
      return { ...stored, accessKeyId: secrets.accessKeyId ?? '', secretAccessKey: secrets.secretAccessKey ?? '' };
    case 'rest':
      return { ...stored, ...(secrets.password === undefined ? {} : { password: secrets.password }) };
    case 'sftp':
      return { ...stored, privateKey: secrets.privateKey ?? '' };
  }
}

/** What GET shows of a location: no credentials, and only whether a CA certificate is pinned. */
export function publicLocation(stored: StorageTargetLocation): PublicLocation {
  if (stored.type === 's3' || stored.type === 'rest') {
    const { caCertPem, ...rest } = stored;
    return { ...rest, hasCaCert: caCertPem !== undefined };
  }
  return { ...stored };
}

/** Every secret value of a target, to scrub from any message before it leaves the API. */
export function secretValues(secrets: StorageTargetSecrets): string[] {
  return Object.values(secrets).filter((v): v is string => typeof v === 'string' && v.length >= 4);
}

export function scrub(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
