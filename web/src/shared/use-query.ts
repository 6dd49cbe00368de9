import type { TadaDocumentNode } from "gql.tada";
import { useCallback, useEffect, useRef, useState } from "react";
import { request, SessionEnded } from "./api.ts";
import { useSession } from "./session.tsx";

export type QueryState<Result> =
  | { status: "loading" }
  | { status: "error"; message: string }
  /** `key`: the variables it answers, as JSON. */
  | { status: "done"; data: Result; key?: string };

/**
 * Runs a typed operation as the signed-in user whenever its variables change
 * (or `version` does: a page bumps it after a write); a refused token ends the
 * session. `skip` leaves it idle (loading) until the page has what it needs.
 */
export function useQuery<Result, Variables>(
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
  { version = 0, skip = false }: { version?: number; skip?: boolean } = {},
): QueryState<Result> {
  const { session, ended } = useSession();
  const [state, setState] = useState<QueryState<Result>>({ status: "loading" });
  const key = JSON.stringify(variables);
  useEffect(() => {
    let live = true;
    setState({ status: "loading" });
    if (skip) return;
    request(document, variables, session?.token ?? null).then(
      (data) => live && setState({ status: "done", data, key }),
      (error: Error) => {
        if (!live) return;
        if (error instanceof SessionEnded) ended("Your session has ended; sign in again.");
        else setState({ status: "error", message: error.message });
      },
    );
    return () => {
      live = false;
    };
  }, [document, key, session?.token, version, skip]);
  return state;
}

/**
 * The data of the last answer for these `variables`, kept while the same
 * question is read again (after a write): a form whose choices come from it
 * keeps them meanwhile (a required select whose options vanish would refuse
 * to submit). Another question starts empty.
 */
export function useLastData<Result>(state: QueryState<Result>, variables: unknown): Result | null {
  const last = useRef<{ key: string; data: Result } | null>(null);
  const key = JSON.stringify(variables);
  // Right after the variables change, the state is still the last question's answer until the new read starts.
  if (state.status === "done" && state.key === key) last.current = { key, data: state.data };
  return last.current?.key === key ? last.current.data : null;
}

/**
 * Sends one operation (a write, or a read on demand) as the signed-in user;
 * a refused token ends the session, any other error is thrown in words.
 */
export function useRequest() {
  const { session, ended } = useSession();
  return useCallback(
    async <Result, Variables>(document: TadaDocumentNode<Result, Variables>, variables: Variables): Promise<Result> => {
      try {
        return await request(document, variables, session?.token ?? null);
      } catch (error) {
        if (error instanceof SessionEnded) ended("Your session has ended; sign in again.");
        throw error;
      }
    },
    [session?.token, ended],
  );
}
