import postgres from 'postgres';

/** Thrown by start-up checks; its message is the one line an operator needs. */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
}

function where(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}`;
}

/**
 * Checks that the PostgreSQL server in `url` answers (connecting to the `postgres` database,
 * since the target may not exist yet). Never echoes the URL's password.
 */
export async function checkPostgres(url: string, timeoutSeconds = 3): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, connect_timeout: timeoutSeconds, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new DependencyUnavailableError(
      `PostgreSQL is not answering at ${where(url)} (${code}). Start it (e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL.`,
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
}
