import type { ReactNode } from "react";
import type { QueryState } from "./use-query.ts";

/** Loading, error in words, empty, or the content: every panel shows one of the four. */
export function Panel<Result>({
  title,
  state,
  isEmpty,
  empty,
  children,
}: {
  title: string;
  state: QueryState<Result>;
  isEmpty?: (data: Result) => boolean;
  empty?: string;
  children: (data: Result) => ReactNode;
}) {
  return (
    <section className="panel" aria-label={title} aria-busy={state.status === "loading"}>
      <h2>{title}</h2>
      {state.status === "loading" && <p className="state loading" role="status">Loading…</p>}
      {state.status === "error" && (
        <p className="state error" role="alert">
          Could not load {title.toLowerCase()}: {state.message}
        </p>
      )}
      {state.status === "done" &&
        (isEmpty?.(state.data) ? <p className="state empty">{empty ?? "Nothing in this range."}</p> : children(state.data))}
    </section>
  );
}
