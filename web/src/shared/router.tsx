import { useCallback, useEffect, useState } from "react";

/** The console lives under /admin; a page is the path after it, its shareable state the query string. */
export const BASE = "/admin";

function current() {
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : "/";
  return { path: path.replace(/\/+$/, "") || "/", search: new URLSearchParams(window.location.search) };
}

export function navigate(path: string, search?: URLSearchParams, replace = false): void {
  const query = search && [...search.keys()].length ? `?${search}` : "";
  const url = `${BASE}${path === "/" ? "/" : path}${query}`;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** The page and its query string, following the history. */
export function useLocation() {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  const setSearch = useCallback(
    (change: Record<string, string | null>) => {
      const next = new URLSearchParams(window.location.search);
      for (const [key, value] of Object.entries(change)) {
        if (value === null) next.delete(key);
        else next.set(key, value);
      }
      navigate(current().path, next);
    },
    [],
  );
  return { ...location, setSearch };
}

export function Link({ to, children, current: isCurrent }: { to: string; children: React.ReactNode; current?: boolean }) {
  return (
    <a
      href={`${BASE}${to}`}
      aria-current={isCurrent ? "page" : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        // The range and filters go along from page to page.
        navigate(to, new URLSearchParams(window.location.search));
      }}
    >
      {children}
    </a>
  );
}
