import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { whenSignedOut } from './api.js';
import { href, useRoute, type Route } from './router.js';
import { resumeSession, signOut, type SessionUser } from './session.js';
import { SignInPage } from './pages/sign-in.js';
import { FleetPage } from './pages/fleet.js';
import { ServerPage } from './pages/server.js';
import { JobPage } from './pages/job.js';
import { BackupPage } from './pages/backup.js';
import { RunsPage, RunPage } from './pages/fleet-runs.js';
import { HistoryPage } from './pages/history.js';
import { AdminPage } from './pages/admin.js';

const UserContext = createContext<SessionUser | null>(null);

/** The signed-in user; pages render only inside a session. */
export function useUser(): SessionUser {
  const user = useContext(UserContext);
  if (!user) throw new Error('useUser outside a session');
  return user;
}

const NAV: { label: string; href: string; pages: Route['page'][]; admin?: boolean }[] = [
  { label: 'Fleet', href: href.fleet, pages: ['fleet', 'server', 'job', 'backup'] },
  { label: 'Fleet runs', href: href.runs, pages: ['runs', 'run'] },
  { label: 'History', href: href.history, pages: ['history'] },
  { label: 'Admin', href: href.admin, pages: ['admin'], admin: true },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'fleet':
      return <FleetPage />;
    case 'server':
      return <ServerPage id={route.id} />;
    case 'job':
      return <JobPage id={route.id} />;
    case 'backup':
      return <BackupPage id={route.id} />;
    case 'runs':
      return <RunsPage />;
    case 'run':
      return <RunPage id={route.id} />;
    case 'history':
      return <HistoryPage />;
    case 'admin':
      return <AdminPage />;
  }
}

export function App() {
  const [user, setUser] = useState<SessionUser | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    whenSignedOut(() => setUser(null));
    resumeSession().then(setUser, () => setUser(null));
  }, []);
  // A new page: move focus to its heading, so keyboard and screen-reader users start at the top of it.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [route]);

  if (user === undefined) return <p class="loading">Loading…</p>;
  if (user === null) return <SignInPage onSignedIn={setUser} />;
  return (
    <UserContext.Provider value={user}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Medicine Man</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => !n.admin || user.role === 'admin').map((n) => (
              <li key={n.href}>
                <a href={n.href} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {user.email} ({user.role})
        </span>
        <button type="button" onClick={() => void signOut().finally(() => setUser(null))}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </UserContext.Provider>
  );
}
