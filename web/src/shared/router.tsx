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
      navigate(current().path, searchWith(change));
    },
    [],
  );
  return { ...location, setSearch };
}

/** The query string a link leads to: the current one (range and filters go along) with `change` applied (null drops a key). */
export function searchWith(change: Record<string, string | null> = {}): URLSearchParams {
  const next = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(change)) {
    if (value === null) next.delete(key);
    else next.set(key, value);
  }
  return next;
}

/**
 * A link inside the console. The range and filters of the page go along, with
 * `search` changed on top (a drill-down names what it narrows to).
 */
export function Link({ to, children, current: isCurrent, search }: { to: string; children: React.ReactNode; current?: boolean; search?: Record<string, string | null> }) {
  const { search: now } = useLocation();
  void now; // re-render when the query string changes, so the href is current
  const next = searchWith(search);
  const query = [...next.keys()].length ? `?${next}` : "";
  return (
    <a
      href={`${BASE}${to === "/" ? "/" : to}${query}`}
      aria-current={isCurrent ? "page" : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(to, searchWith(search));
      }}
    >
      {children}
    </a>
  );
}
