import { decryptStorageTargetSecrets, type Db } from '@mm/db';
import { ResticError, ResticRepository, repositoryString, type ResticLocation } from '@mm/restic';
import { ApiError } from '../../shared/errors.js';
import { defaultTarget, type DefaultTargetEnv } from './default-target.js';
import { findTarget, type TargetRow } from './repository.js';
import { joinLocation, scrub, secretValues } from './target-location.js';
import { targetHostPolicy, targetHostProblems } from './target-host-policy.js';

/** A target with everything needed to open it; `secrets` are the values to scrub from messages. */
export interface OpenableTarget {
  /** null: the default target. */
  id: string | null;
  name: string;
  engine: 'restic' | 'archive';
  location: ResticLocation;
  password: string;
  secrets: string[];
}

export interface TargetAccessEnv extends DefaultTargetEnv {
  CREDENTIALS_KEY: string;
  STORAGE_ALLOW_PRIVATE: boolean;
  STORAGE_ALLOWED_HOSTS: string;
}

export function openableDefault(env: TargetAccessEnv): OpenableTarget {
  const d = defaultTarget(env);
  const secrets = [d.password, ...(d.location.type === 'rest' && d.location.password ? [d.location.password] : [])];
  return { id: null, name: 'default', engine: d.engine, location: d.location, password: d.password, secrets };
}

export function openableRow(row: TargetRow, env: TargetAccessEnv): OpenableTarget {
  const secrets = decryptStorageTargetSecrets(row.secrets, env.CREDENTIALS_KEY, row.id);
  return {
    id: row.id,
    name: row.name,
    engine: row.engine,
    location: joinLocation(row.location, secrets),
    password: secrets.repositoryPassword ?? '',
    secrets: secretValues(secrets),
  };
}

/** A target by reference ('default', a UUID, or null for the default); undefined when no such row exists. */
export async function findOpenable(db: Db, env: TargetAccessEnv, ref: string | null): Promise<OpenableTarget | undefined> {
  if (ref === null || ref === 'default') return openableDefault(env);
  const row = await findTarget(db, ref);
  if (!row) return undefined;
  // The host policy again at each read: DNS may point elsewhere than when the target was created.
  const refused = await targetHostProblems(row.location, targetHostPolicy(env));
  if (refused.length) throw new ApiError('VALIDATION_ERROR', `Storage target '${row.name}' is not read: ${refused.map((p) => p.message).join('; ')}.`);
  return openableRow(row, env);
}

export function openRepository(target: OpenableTarget, lockWaitMs = 30_000): ResticRepository {
  return new ResticRepository({ name: target.name, location: target.location, password: target.password }, { lockWaitMs });
}

/** The repository as `restic -r` takes it (archive: the folder), without credentials. */
export function repositoryOf(target: Pick<OpenableTarget, 'engine' | 'location'>): string {
  if (target.engine === 'archive') return target.location.type === 'local' ? target.location.path : '';
  return repositoryString(target.location);
}

/**
 * A restic failure as the client's error: restic missing on this host is a 503, anything about the target (wrong
 * password, unreachable, access denied, no repository) a 400 naming it. Every secret of the target is scrubbed.
 */
export function resticToApiError(err: unknown, target: OpenableTarget): ApiError | undefined {
  if (!(err instanceof ResticError)) return undefined;
  const message = scrub(err.message, target.secrets);
  if (err.kind === 'missing-binary') return new ApiError('SERVICE_UNAVAILABLE', `${message} on the API host`);
  return new ApiError('VALIDATION_ERROR', message);
}
