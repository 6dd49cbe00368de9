/** Words for the GDPR pages: kinds and states as a person reads them, and the instant deadlines are judged at. */

export const KINDS = ["access", "portability", "erasure", "rectification", "restriction"] as const;
export const STATES = ["received", "verified", "in_progress", "completed", "rejected"] as const;
export type Kind = (typeof KINDS)[number];
export type State = (typeof STATES)[number];

export const KIND_WORDS: Record<Kind, string> = {
  access: "Access (Art. 15)",
  portability: "Portability (Art. 20)",
  erasure: "Erasure (Art. 17)",
  rectification: "Rectification (Art. 16)",
  restriction: "Restriction (Art. 18)",
};

export const STATE_WORDS: Record<State, string> = {
  received: "Received",
  verified: "Verified",
  in_progress: "In progress",
  completed: "Completed",
  rejected: "Rejected",
};

/** `asOf` from the URL (a day or an instant, UTC), so a view of deadlines can be shared and pinned; null is now. */
export function asOfOf(search: URLSearchParams): { asOf: string | null; problem: string | null } {
  const value = search.get("asOf");
  if (!value) return { asOf: null, problem: null };
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  if (Number.isNaN(Date.parse(text))) return { asOf: null, problem: `"asOf" must be a day (2026-11-01) or a time (2026-11-01T10:00:00Z), not "${value}"; deadlines are judged at now.` };
  return { asOf: new Date(text).toISOString(), problem: null };
}

/** Whom a request or hold is about, by name as the reader may read it. */
export function subjectName(row: { clientId?: string | null; userId?: string | null; client?: { fullName: string } | null; user?: { displayName: string } | null }): string {
  if (row.clientId) return row.client?.fullName ? `${row.client.fullName} (client)` : `client ${row.clientId}`;
  if (row.userId) return row.user?.displayName ? `${row.user.displayName} (user account)` : `user account ${row.userId}`;
  return "—";
}
