import type { TadaDocumentNode } from "gql.tada";
import { useEffect, useState } from "react";
import { request, SessionEnded } from "./api.ts";
import { useSession } from "./session.tsx";

export type QueryState<Result> =
  | { status: "loading" }
  | { status: "error"; message: string }
  | { status: "done"; data: Result };

/**
 * Runs a typed operation as the signed-in user whenever its variables change
 * (or `version` does: a page bumps it after an action changed the data); a
 * refused token ends the session.
 */
export function useQuery<Result, Variables>(document: TadaDocumentNode<Result, Variables>, variables: Variables, version = 0): QueryState<Result> {
  const { session, ended } = useSession();
  const [state, setState] = useState<QueryState<Result>>({ status: "loading" });
  const key = JSON.stringify(variables);
  useEffect(() => {
    let live = true;
    setState({ status: "loading" });
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
  }, [document, key, session?.token, version]);
  return state;
}
