import type { ReactNode } from "react";
import { Audit } from "./pages/audit/Audit.tsx";
import { Billing } from "./pages/billing/Billing.tsx";
import { Deleted } from "./pages/deleted/Deleted.tsx";
import { Exports } from "./pages/exports/Exports.tsx";
import { Consents } from "./pages/gdpr/Consents.tsx";
import { Gdpr } from "./pages/gdpr/Gdpr.tsx";
import { Holds } from "./pages/gdpr/Holds.tsx";
import { RequestPage } from "./pages/gdpr/Request.tsx";
import { Requests } from "./pages/gdpr/Requests.tsx";
import { CoachPage } from "./pages/overview/Coach.tsx";
import { Overview } from "./pages/overview/Overview.tsx";
import { Reconcile } from "./pages/reconcile/Reconcile.tsx";
import { Archives } from "./pages/retention/Archives.tsx";
import { Retention } from "./pages/retention/Retention.tsx";
import { Runs } from "./pages/retention/Runs.tsx";
import { SignIn } from "./pages/sign-in/SignIn.tsx";
import { UsageEvents } from "./pages/usage-events/UsageEvents.tsx";
import { Link, useLocation } from "./shared/router.tsx";
import { useSession, type Role } from "./shared/session.tsx";

interface Page {
  path: string;
  title: string;
  roles: readonly Role[];
  render: () => ReactNode;
  /** False for a page reached by drilling down (a coach's page), not from the navigation. */
  nav?: boolean;
}

/** Every page and the roles that may open it; navigation shows only those of the signed-in role. */
const PAGES: readonly Page[] = [
  { path: "/", title: "Overview", roles: ["admin", "auditor", "coach"], render: () => <Overview /> },
  { path: "/coach", title: "Coach", roles: ["admin", "auditor", "coach"], render: () => <CoachPage />, nav: false },
  { path: "/billing", title: "Billing", roles: ["admin", "auditor", "coach"], render: () => <Billing /> },
  { path: "/usage-events", title: "Usage events", roles: ["admin", "auditor", "coach"], render: () => <UsageEvents /> },
  { path: "/reconcile", title: "Reconcile", roles: ["admin", "auditor"], render: () => <Reconcile /> },
  { path: "/audit", title: "Audit", roles: ["admin", "auditor", "coach"], render: () => <Audit /> },
  { path: "/deleted", title: "Deleted items", roles: ["admin", "auditor", "coach"], render: () => <Deleted /> },
  { path: "/exports", title: "Exports", roles: ["admin", "auditor", "coach"], render: () => <Exports /> },
  { path: "/gdpr", title: "GDPR", roles: ["admin", "auditor"], render: () => <Gdpr /> },
  { path: "/gdpr/requests", title: "GDPR requests", roles: ["admin", "auditor", "coach"], render: () => <Requests /> },
  { path: "/gdpr/request", title: "GDPR request", roles: ["admin", "auditor", "coach"], render: () => <RequestPage />, nav: false },
  { path: "/gdpr/holds", title: "Legal holds", roles: ["admin", "auditor"], render: () => <Holds /> },
  { path: "/gdpr/consents", title: "Consents", roles: ["admin", "auditor", "coach"], render: () => <Consents /> },
  { path: "/retention", title: "Retention", roles: ["admin", "auditor"], render: () => <Retention /> },
  { path: "/retention/runs", title: "Retention runs", roles: ["admin", "auditor"], render: () => <Runs /> },
  { path: "/retention/archives", title: "Archives", roles: ["admin", "auditor"], render: () => <Archives /> },
];

export function App() {
  const { session, restoring, signOut } = useSession();
  const { path } = useLocation();
  if (restoring) return <p className="state loading" role="status">Loading…</p>;
  if (!session) return <SignIn />;
  const page = PAGES.find((one) => one.path === path);
  const allowed = PAGES.filter((one) => one.roles.includes(session.role) && one.nav !== false);
  return (
    <div className="shell">
      <nav aria-label="Console">
        <strong className="brand">Custodian</strong>
        <ul>
          {allowed.map((one) => (
            <li key={one.path}>
              <Link to={one.path} current={one === page} search={{ after: null, event: null }}>
                {one.title}
              </Link>
            </li>
          ))}
        </ul>
        <div className="who">
          <span data-role={session.role}>
            {session.displayName} · {session.role}
          </span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </nav>
      <main>
        {!page ? (
          <p className="state error" role="alert">There is no page {path} in the console.</p>
        ) : !page.roles.includes(session.role) ? (
          <p className="state error" role="alert">
            The {page.title} page is for {page.roles.map((role) => `${role}s`).join(" and ")}; you are signed in as {session.role === "admin" ? "an" : "a"} {session.role}.
          </p>
        ) : (
          page.render()
        )}
      </main>
    </div>
  );
}
