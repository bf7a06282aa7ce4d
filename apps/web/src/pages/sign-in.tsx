import { useState } from 'preact/hooks';
import { signIn, type SessionUser } from '../session.js';
import { ErrorNote } from '../ui.js';

export function SignInPage({ onSignedIn }: { onSignedIn: (user: SessionUser) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in" id="main">
      <h1>Medicine Man</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          setBusy(true);
          setError(null);
          signIn(String(form.get('email')), String(form.get('password'))).then(onSignedIn, (err: unknown) => {
            setBusy(false);
            setError(err);
          });
        }}
      >
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}
