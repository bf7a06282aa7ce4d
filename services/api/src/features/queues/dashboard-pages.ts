/** The two small pages around the dashboard: a login form (it posts to POST /api/auth/session) and a refusal. */
const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
  '<meta name="viewport" content="width=device-width, initial-scale=1">' +
  '<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label,input,button{display:block;width:100%;margin:.4rem 0}#error{color:#b00}</style>' +
  `</head><body>${body}</body></html>`;

export function loginPage(next: string): string {
  return page(
    'Medicine Man · admin login',
    '<h1>Medicine Man</h1><form id="login">' +
      '<label>Email <input name="email" type="email" autocomplete="username" required></label>' +
      '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>' +
      '<button type="submit">Log in</button><p id="error" role="alert"></p></form>' +
      '<script>document.getElementById("login").addEventListener("submit", async (e) => {' +
      'e.preventDefault(); const f = new FormData(e.target);' +
      'const res = await fetch("/api/auth/session", { method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin",' +
      'body: JSON.stringify({ email: f.get("email"), password: f.get("password") }) });' +
      `if (res.ok) { location.assign(${JSON.stringify(next)}); return; }` +
      'const body = await res.json().catch(() => null); document.getElementById("error").textContent = body?.error?.message ?? "Login failed.";' +
      '});</script>',
  );
}

export function refusedPage(): string {
  return page('Medicine Man · refused', '<h1>Refused</h1><p>The queue dashboard needs the admin role.</p><p><a href="/admin/login">Log in as another user</a></p>');
}
