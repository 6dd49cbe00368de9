import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { request, SessionEnded } from "./api.ts";
import { CurrentUser, SignOut } from "./operations.ts";

export type Role = "admin" | "auditor" | "coach";

export interface Session {
  token: string;
  /** Seconds since the epoch, from the token. */
  expiresAt: number;
  role: Role;
  displayName: string;
  email: string;
}

const TOKEN_KEY = "custodian.token";
const NOTICE_KEY = "custodian.notice";

/** The expiry a token states (its exp claim); the server checks it too. */
export function tokenExpiry(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" ? payload.exp : 0;
  } catch {
    return 0;
  }
}

/** Reads the signed-in user for a token; the token is kept for this tab only (sessionStorage). */
export async function openSession(token: string): Promise<Session> {
  const { currentUser } = await request(CurrentUser, {}, token);
  if (!currentUser) throw new SessionEnded("Your session has ended.");
  sessionStorage.setItem(TOKEN_KEY, token);
  return { token, expiresAt: tokenExpiry(token), ...currentUser };
}

interface SessionState {
  session: Session | null;
  /** Why the tab was sent back to sign-in, when it was. */
  notice: string | null;
  /** True while a kept token is being checked. */
  restoring: boolean;
  signedIn(session: Session): void;
  signOut(): Promise<void>;
  /** Drops the session and says why on the sign-in page. */
  ended(reason: string): void;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const [notice, setNotice] = useState<string | null>(() => sessionStorage.getItem(NOTICE_KEY));
  const [restoring, setRestoring] = useState(() => sessionStorage.getItem(TOKEN_KEY) !== null);

  const ended = useCallback((reason: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(NOTICE_KEY, reason);
    setNotice(reason);
    setSession(null);
  }, []);

  // A token kept from earlier in this tab: still good, or gone with a reason.
  useEffect(() => {
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (!kept) return;
    openSession(kept)
      .then((opened) => setSession(opened))
      .catch((error: Error) => ended(error instanceof SessionEnded ? "Your session has ended; sign in again." : error.message))
      .finally(() => setRestoring(false));
  }, [ended]);

  // Expiry sends the tab back to sign-in, saying so.
  useEffect(() => {
    if (!session) return;
    const left = session.expiresAt * 1000 - Date.now();
    const timer = setTimeout(() => ended("Your session expired; sign in again."), Math.max(0, Math.min(left, 2 ** 31 - 1)));
    return () => clearTimeout(timer);
  }, [session, ended]);

  const value: SessionState = {
    session,
    notice,
    restoring,
    signedIn(opened) {
      sessionStorage.removeItem(NOTICE_KEY);
      setNotice(null);
      setSession(opened);
    },
    async signOut() {
      const token = session?.token;
      // The tab forgets the token at once; the server is told to end the
      // session without anyone waiting on its answer (a failure leaves
      // nothing to do: an ended session has nothing left to end).
      ended("You signed out.");
      if (token) void request(SignOut, {}, token).catch(() => undefined);
    },
    ended,
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}

/** The signed-in session; only for pages behind sign-in. */
export function useSignedIn(): Session {
  const { session } = useSession();
  if (!session) throw new Error("useSignedIn without a session");
  return session;
}
