import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { paths } from '@mm/client';
import { api, call } from '../api.js';
import { ActionButton, ErrorNote, Section, StatusBadge, useLoad } from '../ui.js';
import { useFormSubmit } from '../form-submit.js';

type CreateBody = paths['/api/storage-targets']['post']['requestBody']['content']['application/json'];
type Kind = CreateBody['location']['type'];

interface Field {
  key: string;
  label: string;
  optional?: boolean;
  secret?: boolean;
  multiline?: boolean;
  hint?: string;
}

// The fields of each location type (docs/API.md, "Storage targets"); secrets are password fields, never shown back.
const FIELDS: Record<Kind, Field[]> = {
  local: [{ key: 'path', label: 'Folder path', hint: 'absolute; the same shared folder on the API host and every backup worker' }],
  s3: [
    { key: 'endpoint', label: 'S3 endpoint', hint: 'https://host[:port]' },
    { key: 'bucket', label: 'Bucket' },
    { key: 'prefix', label: 'Prefix in the bucket', optional: true },
    { key: 'region', label: 'Region', optional: true },
    { key: 'accessKeyId', label: 'Access key ID' },
    { key: 'secretAccessKey', label: 'Secret access key', secret: true },
    { key: 'caCertPem', label: 'CA certificate (PEM)', optional: true, multiline: true },
  ],
  rest: [
    { key: 'url', label: 'REST server URL', hint: 'http(s)://host[:port]/path/, without credentials' },
    { key: 'username', label: 'REST username', optional: true },
    { key: 'password', label: 'REST password', optional: true, secret: true },
    { key: 'caCertPem', label: 'CA certificate (PEM)', optional: true, multiline: true },
  ],
  sftp: [
    { key: 'host', label: 'SFTP host' },
    { key: 'port', label: 'SFTP port' },
    { key: 'username', label: 'SFTP username' },
    { key: 'privateKey', label: 'Private key (OpenSSH, no passphrase)', secret: true, multiline: true },
    { key: 'path', label: 'Repository path on the host' },
    { key: 'hostKeyFingerprint', label: 'Host key fingerprint', hint: 'SHA256:… as ssh-keygen -lf prints it' },
  ],
};

const EMPTY = { name: '', engine: 'restic' as CreateBody['engine'], kind: 'local' as Kind, password: '', fields: { port: '22' } as Record<string, string> };

/** The request body from the form: empty optional fields left out, the SFTP port a number. */
function bodyOf(form: typeof EMPTY): CreateBody {
  const location: Record<string, unknown> = { type: form.kind };
  for (const f of FIELDS[form.kind]) {
    const value = form.fields[f.key] ?? '';
    if (value === '' && f.optional) continue;
    location[f.key] = f.key === 'port' ? Number(value) : value;
  }
  return {
    name: form.name,
    engine: form.engine,
    location: location as CreateBody['location'],
    ...(form.engine === 'restic' && form.password ? { password: form.password } : {}),
  };
}

/**
 * Storage targets: the list, **Add storage target** (the API initialises or opens the repository before it answers)
 * and **Delete** (refused while backups, servers or schedules use the target). Secrets are typed, sent and emptied.
 */
export function StorageTargets() {
  const targets = useLoad(() => call(api.GET('/api/storage-targets')), []);
  const [form, setForm] = useState(EMPTY);
  const submit = useFormSubmit(
    () => call(api.POST('/api/storage-targets', { body: bodyOf(form) })),
    () => {
      setForm(EMPTY);
      targets.reload();
    },
  );
  const setField = (key: string, value: string) => setForm({ ...form, fields: { ...form.fields, [key]: value } });
  return (
    <Section title="Storage targets">
      <ErrorNote error={targets.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Engine</th>
            <th scope="col">Repository</th>
            <th scope="col">Backups</th>
            <th scope="col">Last check</th>
            <th scope="col">Delete</th>
          </tr>
        </thead>
        <tbody>
          {(targets.data ?? []).map((t) => (
            <tr key={t.id}>
              <th scope="row">
                {t.name}
                {t.isDefault ? ' (default)' : ''}
              </th>
              <td>{t.engine}</td>
              <td>
                <code>{t.repository}</code>
              </td>
              <td>{t.backupCount}</td>
              <td>{t.lastCheck ? <StatusBadge status={t.lastCheck.status} /> : 'never'}</td>
              <td>
                {t.isDefault ? (
                  '—'
                ) : (
                  <ActionButton kind="danger" onClick={async () => (await call(api.DELETE('/api/storage-targets/{id}', { params: { path: { id: t.id } } })), targets.reload())}>
                    Delete<span class="visually-hidden"> storage target {t.name}</span>
                  </ActionButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="form-grid"
        aria-labelledby="add-target"
        onSubmit={submit.onSubmit}
      >
        <h3 id="add-target">Add a storage target</h3>
        <label for="target-name">Target name</label>
        <input id="target-name" required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <label for="target-engine">Engine</label>
        <select
          id="target-engine"
          value={form.engine}
          onChange={(e) => {
            const engine = e.currentTarget.value as CreateBody['engine'];
            // The archive engine stores plain files in a local folder only.
            setForm({ ...form, engine, ...(engine === 'archive' ? { kind: 'local' as Kind, password: '' } : {}) });
          }}
        >
          <option value="restic">restic (a repository)</option>
          <option value="archive">archive (one file per backup)</option>
        </select>
        <label for="target-kind">Location</label>
        <select id="target-kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.currentTarget.value as Kind })}>
          <option value="local">local folder</option>
          {form.engine === 'restic' && (
            <>
              <option value="s3">S3</option>
              <option value="rest">restic REST server</option>
              <option value="sftp">SFTP</option>
            </>
          )}
        </select>
        {FIELDS[form.kind].map((f) => {
          const id = `target-${form.kind}-${f.key}`;
          const value = form.fields[f.key] ?? '';
          const described = f.hint ? `${id}-hint` : undefined;
          const onInput = (e: { currentTarget: { value: string } }) => setField(f.key, e.currentTarget.value);
          return (
            <Fragment key={id}>
              <label for={id}>
                {f.label}
                {f.optional ? ' (optional)' : ''}
              </label>
              {f.multiline ? (
                <textarea id={id} required={!f.optional} value={value} onInput={onInput} aria-describedby={described} rows={4} spellcheck={false} />
              ) : (
                f.secret ? (
                  <input id={id} type="password" required={!f.optional} value={value} onInput={onInput} aria-describedby={described} autocomplete="off" />
                ) : (
                  <input id={id} type="text" inputMode={f.key === 'port' ? 'numeric' : undefined} required={!f.optional} value={value} onInput={onInput} aria-describedby={described} autocomplete="off" />
                )
              )}
              {f.hint && (
                <p id={`${id}-hint`} class="hint">
                  {f.hint}
                </p>
              )}
            </Fragment>
          );
        })}
        {form.engine === 'restic' && (
          <>
            <label for="target-password">Repository password (optional)</label>
            <input
              id="target-password"
              type="password"
              autocomplete="off"
              aria-describedby="target-password-hint"
              value={form.password}
              onInput={(e) => setForm({ ...form, password: e.currentTarget.value })}
            />
            <p id="target-password-hint" class="hint">
              8 characters or more; a random one is generated when empty. Stored encrypted and never shown again.
            </p>
          </>
        )}
        <div>
          <button type="submit" disabled={submit.busy} aria-busy={submit.busy}>
            Add storage target
          </button>
        </div>
        <ErrorNote error={submit.error} />
      </form>
    </Section>
  );
}
