import { useRef, useState } from 'preact/hooks';
import type { ApiData } from '@mm/client';
import { api, call } from '../api.js';
import { useUser } from '../app.js';
import { bytes, when } from '../format.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { ActionButton, ErrorNote, Section, ServerLink, StatusBadge, useLoad } from '../ui.js';
import { LiveJob } from './server.js';

type Entry = ApiData<'/api/backups/{id}/files', 'get'>['entries'][number];
const FILE_PAGE = 200;

const downloadHref = (id: string, path?: string) => `/api/backups/${encodeURIComponent(id)}/download${path ? `?path=${encodeURIComponent(path)}` : ''}`;

/** One folder of the backup's listing (from PostgreSQL), page by page, with links into sub-folders and downloads. */
function FileBrowser({ id, canDownload }: { id: string; canDownload: boolean }) {
  const [path, setPath] = useState('');
  const [extra, setExtra] = useState<{ entries: Entry[]; nextCursor: string | null } | null>(null);
  const listing = useLoad(async () => {
    setExtra(null);
    return call(api.GET('/api/backups/{id}/files', { params: { path: { id }, query: { limit: FILE_PAGE, ...(path ? { path } : {}) } } }));
  }, [id, path]);
  const entries = [...(listing.data?.entries ?? []), ...(extra?.entries ?? [])];
  const nextCursor = extra ? extra.nextCursor : listing.data?.nextCursor;
  const crumbs = path ? path.split('/') : [];
  return (
    <>
      <nav aria-label="Folder" class="crumbs">
        <ol>
          <li>
            <button type="button" class="link" onClick={() => setPath('')}>
              /
            </button>
          </li>
          {crumbs.map((part, i) => (
            <li key={i}>
              <button type="button" class="link" aria-current={i === crumbs.length - 1 ? 'location' : undefined} onClick={() => setPath(crumbs.slice(0, i + 1).join('/'))}>
                {part}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <ErrorNote error={listing.error} />
      <table class="files">
        <caption class="visually-hidden">Files in /{path}</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Size</th>
            <th scope="col">Modified</th>
            {canDownload && <th scope="col">Download</th>}
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.path}>
              <th scope="row">
                {e.type === 'dir' ? (
                  <button type="button" class="link" onClick={() => setPath(e.path)}>
                    {e.name}/
                  </button>
                ) : (
                  e.name
                )}
              </th>
              <td>{e.type}</td>
              <td>{e.type === 'file' ? bytes(e.size) : '—'}</td>
              <td>{when(e.mtime)}</td>
              {canDownload && (
                <td>
                  {(e.type === 'file' || e.type === 'dir') && (
                    <a href={downloadHref(id, e.path)} download>
                      Download {e.name}
                      {e.type === 'dir' ? ' (tar)' : ''}
                    </a>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {nextCursor && (
        <ActionButton
          onClick={async () => {
            const more = await call(api.GET('/api/backups/{id}/files', { params: { path: { id }, query: { limit: FILE_PAGE, cursor: nextCursor, ...(path ? { path } : {}) } } }));
            setExtra((prev) => ({ entries: [...(prev?.entries ?? []), ...more.entries], nextCursor: more.nextCursor }));
          }}
        >
          Show more files
        </ActionButton>
      )}
    </>
  );
}

/** Restore: pick the destination, then confirm in a dialog that names the server and the path. */
function RestoreForm({ id, serverId, admin }: { id: string; serverId: string; admin: boolean }) {
  const servers = useLoad(() => call(api.GET('/api/servers', { params: { query: { limit: 100, offset: 0 } } })), []);
  const [target, setTarget] = useState(serverId);
  const [targetPath, setTargetPath] = useState('/srv/restore');
  const [jobId, setJobId] = useState<string | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const targetName = servers.data?.find((s) => s.id === target)?.name ?? target;
  return (
    <>
      <form
        class="restore"
        onSubmit={(e) => {
          e.preventDefault();
          dialog.current?.showModal();
        }}
      >
        <label for="restore-server">Target server</label>
        <select id="restore-server" value={target} disabled={!admin} onChange={(e) => setTarget(e.currentTarget.value)}>
          {(servers.data ?? [{ id: serverId, name: serverId }]).map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
        <label for="restore-path">Target path</label>
        <input id="restore-path" value={targetPath} required pattern="/.*" onInput={(e) => setTargetPath(e.currentTarget.value)} />
        <button type="submit">Restore…</button>
      </form>
      <dialog ref={dialog} aria-labelledby="restore-title">
        <h2 id="restore-title">Restore this backup?</h2>
        <p>
          Files will be written to <strong>{targetName}</strong> under <code>{targetPath}</code>, overwriting files that exist there.
        </p>
        <div class="toolbar">
          <ActionButton
            kind="danger"
            onClick={async () => {
              const started = await call(api.POST('/api/backups/{id}/restore', { params: { path: { id } }, body: { targetPath, serverId: target } }));
              setJobId(started.jobId);
              dialog.current?.close();
            }}
          >
            Restore to {targetName}:{targetPath}
          </ActionButton>
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
        </div>
      </dialog>
      {jobId && (
        <ul class="live-jobs">
          <LiveJob jobId={jobId} label="Restore" />
        </ul>
      )}
    </>
  );
}

export function BackupPage({ id }: { id: string }) {
  const user = useUser();
  const backup = useLoad(() => call(api.GET('/api/backups/{id}', { params: { path: { id } } })), [id]);
  const [verifyJob, setVerifyJob] = useState<string | null>(null);
  const b = backup.data;
  // The record's backup-only columns are typed loosely by the API (one record schema for three kinds).
  const extra = (b ?? {}) as { backupType?: string; sizeBytes?: number | null; verifyStatus?: string | null; verifiedAt?: string | null };
  const operator = can(user, 'operator');
  return (
    <>
      <h1 tabIndex={-1}>Backup {id.slice(0, 8)}</h1>
      <ErrorNote error={backup.error} />
      {b && (
        <>
          <dl class="facts">
            <dt>Server</dt>
            <dd>
              {b.serverId ? <ServerLink id={b.serverId} href={href.server(b.serverId)} /> : 'deleted'}
            </dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={b.status} />
            </dd>
            <dt>Type</dt>
            <dd>{extra.backupType ?? '—'}</dd>
            <dt>Size</dt>
            <dd>{bytes(extra.sizeBytes)}</dd>
            <dt>Finished</dt>
            <dd>{when(b.finishedAt)}</dd>
            <dt>Verified</dt>
            <dd>{extra.verifyStatus ? `${extra.verifyStatus} ${when(extra.verifiedAt)}` : 'never'}</dd>
          </dl>
          {operator && b.status === 'completed' && (
            <div class="toolbar">
              <ActionButton onClick={async () => setVerifyJob((await call(api.POST('/api/backups/{id}/verify', { params: { path: { id } } }))).jobId)}>Verify</ActionButton>
              <a class="button" href={downloadHref(id)} download>
                Download the whole backup
              </a>
            </div>
          )}
          {verifyJob && (
            <ul class="live-jobs">
              <LiveJob jobId={verifyJob} label="Verify" onEnd={backup.reload} />
            </ul>
          )}
          {b.status === 'completed' && (
            <Section title="Files">
              <FileBrowser id={id} canDownload={operator} />
            </Section>
          )}
          {operator && b.status === 'completed' && b.serverId && (
            <Section title="Restore">
              <RestoreForm id={id} serverId={b.serverId} admin={user.role === 'admin'} />
            </Section>
          )}
        </>
      )}
    </>
  );
}
