import { useState } from "react";
import { fetchExport, saveFile, SessionEnded } from "./api.ts";
import { useSession } from "./session.tsx";

export const EXPORT_FORMATS = { csv: "CSV", jsonl: "JSON Lines" } as const;
export type ExportFormat = keyof typeof EXPORT_FORMATS;

/**
 * Buttons that download one REST export (every page of it) in each format,
 * saying what came (rows, file) or what went wrong, in words.
 */
export function ExportButtons({ label, path, search }: { label: string; path: string; search: URLSearchParams }) {
  const { session, ended } = useSession();
  const [state, setState] = useState<{ status: "idle" | "busy" } | { status: "done"; rows: number; filename: string } | { status: "error"; message: string }>({ status: "idle" });
  async function download(format: ExportFormat) {
    setState({ status: "busy" });
    const query = new URLSearchParams(search);
    query.set("format", format);
    try {
      const file = await fetchExport(path, query, session?.token ?? "");
      saveFile(file);
      setState({ status: "done", rows: file.rows, filename: file.filename });
    } catch (error) {
      if (error instanceof SessionEnded) ended("Your session has ended; sign in again.");
      setState({ status: "error", message: (error as Error).message });
    }
  }
  return (
    <div className="export" role="group" aria-label={`Export ${label}`}>
      {(Object.keys(EXPORT_FORMATS) as ExportFormat[]).map((format) => (
        <button key={format} type="button" disabled={state.status === "busy"} onClick={() => void download(format)}>
          Download {label} as {EXPORT_FORMATS[format]}
        </button>
      ))}
      {state.status === "busy" && <span role="status">Preparing the file…</span>}
      {state.status === "done" && (
        <span role="status" data-export-rows={state.rows} data-export-file={state.filename}>
          Downloaded {state.filename}: {state.rows} {state.rows === 1 ? "row" : "rows"}.
        </span>
      )}
      {state.status === "error" && (
        <span className="state error" role="alert">
          Could not export {label}: {state.message}
        </span>
      )}
    </div>
  );
}
