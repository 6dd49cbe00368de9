import type { TadaDocumentNode } from "gql.tada";
import { useCallback, useEffect, useState } from "react";
import { request, SessionEnded } from "./api.ts";
import { useSession } from "./session.tsx";

export type QueryState<Result> =
  | { status: "loading" }
  | { status: "error"; message: string }
  | { status: "done"; data: Result };

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
      (data) => live && setState({ status: "done", data }),
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
