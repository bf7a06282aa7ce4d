import { useState } from 'preact/hooks';
import type { ApiData } from '@mm/client';
import { api, call } from '../api.js';
import { when } from '../format.js';
import { ActionButton, ErrorNote, Section, useLoad } from '../ui.js';
import { useFormSubmit } from '../form-submit.js';

type WebhookEvent = ApiData<'/api/webhooks', 'get'>[number]['events'][number];

// Every event the API knows (the compiler asks for a new one here), with what it means (docs/API.md, "Webhooks").
const EVENTS: Record<WebhookEvent, string> = {
  'job.failed': "a job's final failure",
  'backup.completed': 'a backup stored',
  'scan.critical_finding': 'a full scan with a critical finding',
  'backup.overdue': 'a server past its backup RPO',
  'backup.recovered': 'an overdue server backed up again',
};

const EMPTY = { url: '', secret: '', events: [] as WebhookEvent[] };

/**
 * Webhooks: the list, **Add webhook** and **Delete**. The secret is typed once and sent; the API never returns it, and
 * the field is emptied once the webhook is stored.
 */
export function Webhooks() {
  const hooks = useLoad(() => call(api.GET('/api/webhooks', { params: { query: { limit: 100, offset: 0 } } })), []);
  const [form, setForm] = useState(EMPTY);
  const submit = useFormSubmit(
    () => call(api.POST('/api/webhooks', { body: form })),
    () => {
      setForm(EMPTY);
      hooks.reload();
    },
  );
  const toggle = (event: WebhookEvent, on: boolean) => setForm({ ...form, events: on ? [...form.events, event] : form.events.filter((e) => e !== event) });
  return (
    <Section title="Webhooks">
      <ErrorNote error={hooks.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Events</th>
            <th scope="col">Created</th>
            <th scope="col">Delete</th>
          </tr>
        </thead>
        <tbody>
          {(hooks.data ?? []).map((h) => (
            <tr key={h.id}>
              <th scope="row">{h.url}</th>
              <td>{h.events.join(', ')}</td>
              <td>{when(h.createdAt)}</td>
              <td>
                <ActionButton kind="danger" onClick={async () => (await call(api.DELETE('/api/webhooks/{id}', { params: { path: { id: h.id } } })), hooks.reload())}>
                  Delete<span class="visually-hidden"> webhook {h.url}</span>
                </ActionButton>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="form-grid"
        aria-labelledby="add-webhook"
        onSubmit={submit.onSubmit}
      >
        <h3 id="add-webhook">Add a webhook</h3>
        <label for="webhook-url">Webhook URL</label>
        <input id="webhook-url" type="url" required placeholder="https://hooks.example.com/mm" value={form.url} onInput={(e) => setForm({ ...form, url: e.currentTarget.value })} />
        <fieldset>
          <legend>Events</legend>
          {(Object.keys(EVENTS) as WebhookEvent[]).map((event) => (
            <label key={event} class="check">
              <input type="checkbox" checked={form.events.includes(event)} onChange={(e) => toggle(event, e.currentTarget.checked)} />
              <span>
                <code>{event}</code>: {EVENTS[event]}
              </span>
            </label>
          ))}
        </fieldset>
        <label for="webhook-secret">Signing secret</label>
        <input
          id="webhook-secret"
          type="password"
          autocomplete="off"
          required
          minLength={16}
          aria-describedby="webhook-secret-hint"
          value={form.secret}
          onInput={(e) => setForm({ ...form, secret: e.currentTarget.value })}
        />
        <p id="webhook-secret-hint" class="hint">
          16 characters or more; signs each delivery (X-MM-Signature). Stored encrypted and never shown again.
        </p>
        <div>
          <button type="submit" disabled={submit.busy} aria-busy={submit.busy}>
            Add webhook
          </button>
        </div>
        <ErrorNote error={submit.error} />
      </form>
    </Section>
  );
}
