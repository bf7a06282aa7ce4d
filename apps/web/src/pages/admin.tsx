import { useState } from 'preact/hooks';
import { api, call } from '../api.js';
import { useUser } from '../app.js';
import { when } from '../format.js';
import { ActionButton, ErrorNote, Section, StatusBadge, useLoad } from '../ui.js';
import { StorageTargets } from './admin-storage-targets.js';
import { Webhooks } from './admin-webhooks.js';

function Users() {
  const users = useLoad(() => call(api.GET('/api/users', { params: { query: { limit: 100, offset: 0 } } })), []);
  const [form, setForm] = useState({ email: '', password: '', role: 'viewer' as 'viewer' | 'operator' | 'admin' });
  const [error, setError] = useState<unknown>(null);
  return (
    <Section title="Users">
      <ErrorNote error={users.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {(users.data ?? []).map((u) => (
            <tr key={u.id}>
              <th scope="row">{u.email}</th>
              <td>{u.role}</td>
              <td>{when(u.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setError(null);
          call(api.POST('/api/users', { body: form })).then(() => {
            setForm({ email: '', password: '', role: 'viewer' });
            users.reload();
          }, setError);
        }}
      >
        <label for="new-user-email">New user's email</label>
        <input id="new-user-email" type="email" required value={form.email} onInput={(e) => setForm({ ...form, email: e.currentTarget.value })} />
        <label for="new-user-password">Password</label>
        <input id="new-user-password" type="password" autocomplete="new-password" required minLength={12} value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
        <label for="new-user-role">Role</label>
        <select id="new-user-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as typeof form.role })}>
          <option value="viewer">viewer</option>
          <option value="operator">operator</option>
          <option value="admin">admin</option>
        </select>
        <button type="submit">Add user</button>
        <ErrorNote error={error} />
      </form>
    </Section>
  );
}

function Tokens() {
  const tokens = useLoad(() => call(api.GET('/api/tokens', { params: { query: { all: true, limit: 100, offset: 0 } } })), []);
  return (
    <Section title="API tokens">
      <p>Scripts and CI create their own with <code>mm token create</code> (docs/CLI.md).</p>
      <ErrorNote error={tokens.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Owner</th>
            <th scope="col">Role</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">Revoke</th>
          </tr>
        </thead>
        <tbody>
          {(tokens.data ?? []).map((t) => (
            <tr key={t.id}>
              <th scope="row">{t.name}</th>
              <td>{t.userEmail}</td>
              <td>{t.role}</td>
              <td>{when(t.lastUsedAt)}</td>
              <td>{when(t.expiresAt)}</td>
              <td>
                {t.revokedAt ? (
                  `revoked ${when(t.revokedAt)}`
                ) : (
                  <ActionButton kind="danger" onClick={async () => (await call(api.DELETE('/api/tokens/{id}', { params: { path: { id: t.id } } })), tokens.reload())}>
                    Revoke {t.name}
                  </ActionButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function AuditLog() {
  const audit = useLoad(() => call(api.GET('/api/audit', { params: { query: { limit: 50 } } })), []);
  return (
    <Section title="Audit log">
      <ErrorNote error={audit.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {(audit.data ?? []).map((a) => (
            <tr key={a.id}>
              <td>{when(a.at)}</td>
              <td>
                {a.actor.email ?? '—'}
                {a.tokenId ? ' (API token)' : ''}
              </td>
              <td>{a.action}</td>
              <td>{a.targetId ?? ''}</td>
              <td>
                <StatusBadge status={a.outcome} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

export function AdminPage() {
  const user = useUser();
  if (user.role !== 'admin') {
    return (
      <>
        <h1 tabIndex={-1}>Admin</h1>
        <p>This page needs the admin role.</p>
      </>
    );
  }
  return (
    <>
      <h1 tabIndex={-1}>Admin</h1>
      <p>
        <a href="/admin/queues">Queues (bull-board)</a>: jobs by queue and state, with retry and clean.
      </p>
      <Users />
      <Tokens />
      <Webhooks />
      <StorageTargets />
      <AuditLog />
    </>
  );
}
