import { useState } from 'preact/hooks';

/**
 * A form that sends one request: `onSubmit` keeps the page from reloading, clears the last error, marks the form busy
 * while `send` runs, then calls `done` (empty the form, re-read the list) or keeps the API's refusal in `error`.
 */
export function useFormSubmit(send: () => Promise<unknown>, done: () => void): { busy: boolean; error: unknown; onSubmit: (e: Event) => void } {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    send().then(
      () => {
        setBusy(false);
        done();
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return { busy, error, onSubmit };
}
